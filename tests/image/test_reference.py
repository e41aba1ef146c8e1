"""Docker's reference grammar and normalisation.

The expected outcomes are those of the docker CLI 28.2 (distribution/reference v0.6), each
checked against ``docker pull REF`` with no daemon to reach: a reference Docker refuses
fails before any connection, with the message given here.
"""

import re

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from freight.errors import InvalidReference
from freight.image.reference import Reference, parse

DIGEST = "sha256:" + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
BAD_FORMAT = "invalid reference format"


@pytest.mark.parametrize("text, full, familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("team/app", "docker.io/team/app:latest", "team/app:latest"),
    ("localhost:5000/team/app:1.0", "localhost:5000/team/app:1.0", "localhost:5000/team/app:1.0"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("localhost:5000", "docker.io/library/localhost:5000", "localhost:5000"),  # a tag, not a port
    ("127.0.0.1:5000/a/b/c:v_1.2-3", "127.0.0.1:5000/a/b/c:v_1.2-3", "127.0.0.1:5000/a/b/c:v_1.2-3"),
    ("ghcr.io/org/img", "ghcr.io/org/img:latest", "ghcr.io/org/img:latest"),
    ("a__b-c/e.f", "docker.io/a__b-c/e.f:latest", "a__b-c/e.f:latest"),
    ("a--b/c", "docker.io/a--b/c:latest", "a--b/c:latest"),
    ("[::1]:5000/app:v", "[::1]:5000/app:v", "[::1]:5000/app:v"),
    ("[::1]/x", "[::1]/x:latest", "[::1]/x:latest"),
    ("Foo/bar", "Foo/bar:latest", "Foo/bar:latest"),  # an upper-case first component is a host
    ("a.B/c", "a.B/c:latest", "a.B/c:latest"),
    ("a.b.c:0/x/y:1", "a.b.c:0/x/y:1", "a.b.c:0/x/y:1"),
    ("a/b/c/d/e", "docker.io/a/b/c/d/e:latest", "a/b/c/d/e:latest"),
    ("busybox:Tag_1.x-Y", "docker.io/library/busybox:Tag_1.x-Y", "busybox:Tag_1.x-Y"),
    ("busybox:" + "t" * 128, "docker.io/library/busybox:" + "t" * 128, "busybox:" + "t" * 128),
    ("docker.io/" + "a" * 64, f"docker.io/library/{'a' * 64}:latest", f"{'a' * 64}:latest"),
    ("x/" + "a" * 253, f"docker.io/x/{'a' * 253}:latest", f"x/{'a' * 253}:latest"),
    ("a" * 247, f"docker.io/library/{'a' * 247}:latest", f"{'a' * 247}:latest"),
    # 255 characters of path: the host does not count (v0.6)
    ("example.com/" + "a" * 255, f"example.com/{'a' * 255}:latest", f"example.com/{'a' * 255}:latest"),
    # a dotted first component that is no host name (an underscore): a name without a domain
    ("a_b.com/x", "a_b.com/x:latest", "a_b.com/x:latest"),
])
def test_normalises_like_docker(text: str, full: str, familiar: str) -> None:
    ref = parse(text)
    assert str(ref) == full
    assert ref.familiar() == familiar
    assert parse(full) == ref and parse(familiar) == ref


def test_digest_reference_has_no_default_tag() -> None:
    ref = parse(f"busybox@{DIGEST}")
    assert ref.tag is None and ref.digest == DIGEST
    assert str(ref) == f"docker.io/library/busybox@{DIGEST}"
    both = parse(f"localhost:5000/app:1@{DIGEST}")
    assert (both.tag, both.digest) == ("1", DIGEST)
    assert parse(f"busybox:latest@{DIGEST}").tag == "latest"
    assert parse("busybox", default_tag=False).tag is None


def test_a_name_without_domain_round_trips_through_the_stored_form() -> None:
    from freight.image.reference import parse_normalized

    ref = parse("a_b.com/x:1")
    assert (ref.domain, ref.path, ref.repository) == ("", "a_b.com/x", "a_b.com/x")
    assert parse_normalized(str(ref)) == ref
    assert parse_normalized("docker.io/a_b/x:1") == Reference("docker.io", "a_b/x", "1")


HEX32 = "a" * 32
LONG = "repository name must not be more than 255 characters"


@pytest.mark.parametrize("text, message", [
    ("", BAD_FORMAT),
    ("busybox@", BAD_FORMAT),
    ("busybox:", BAD_FORMAT),
    ("@sha256:", BAD_FORMAT),
    (f"@{DIGEST}", BAD_FORMAT),
    (":tag", BAD_FORMAT),
    ("busybox:a@", BAD_FORMAT),
    ("a//b", BAD_FORMAT),
    ("double//slash", BAD_FORMAT),
    ("a/", BAD_FORMAT),
    ("/a", BAD_FORMAT),
    ("a/b/", BAD_FORMAT),
    ("localhost/a/", BAD_FORMAT),
    ("-leading/dash", BAD_FORMAT),
    ("trailing-/x", BAD_FORMAT),
    ("a/-b", BAD_FORMAT),
    ("a/b-", BAD_FORMAT),
    ("a/_b", BAD_FORMAT),
    ("a/.b", BAD_FORMAT),
    ("b.", BAD_FORMAT),
    (".b", BAD_FORMAT),
    ("a___b", BAD_FORMAT),
    ("a..b", BAD_FORMAT),
    ("a._b", BAD_FORMAT),
    ("a:b:c", BAD_FORMAT),
    ("a/b:c:d", BAD_FORMAT),
    ("a/b@c", BAD_FORMAT),
    ("a:B/c", BAD_FORMAT),
    ("busybox:bad tag", BAD_FORMAT),
    ("busybox:-tag", BAD_FORMAT),
    ("busybox:.tag", BAD_FORMAT),
    ("busybox:" + "t" * 129, BAD_FORMAT),
    ("busybox:é", BAD_FORMAT),  # a tag is ASCII: Go's \w
    (" busybox", BAD_FORMAT),
    ("busybox ", BAD_FORMAT),
    ("bu sybox", BAD_FORMAT),
    ("busybox\n", BAD_FORMAT),
    ("x.com:/a", BAD_FORMAT),
    ("x.com:abc/a", BAD_FORMAT),
    (":5000/a", BAD_FORMAT),
    ("ex-.com/x", BAD_FORMAT),
    ("a_b.com:5000/x", BAD_FORMAT),
    ("busybox@sha256:123", BAD_FORMAT),  # a digest's hex has 32 digits at least
    ("busybox@sha256:" + "g" * 64, BAD_FORMAT),
    ("busybox@1sha:" + HEX32, BAD_FORMAT),
    ("Busybox", f"{BAD_FORMAT}: repository name (library/Busybox) must be lowercase"),
    ("ALLCAPS", f"{BAD_FORMAT}: repository name (library/ALLCAPS) must be lowercase"),
    ("foo/Bar:Tag", f"{BAD_FORMAT}: repository name (foo/Bar) must be lowercase"),
    ("a/B", f"{BAD_FORMAT}: repository name (a/B) must be lowercase"),
    ("İ", f"{BAD_FORMAT}: repository name (library/İ) must be lowercase"),
    (f"busybox@MD5:{HEX32}", f"{BAD_FORMAT}: repository name (library/busybox@MD5) must be lowercase"),
    ("FOO_bar.com/x", "repository name must be lowercase"),
    ("busybox:ok.İ", "repository name must be lowercase"),  # Go lower-cases it to a plain i
    ("a" * 64, f"invalid repository name ({'a' * 64}), cannot specify 64-byte hexadecimal strings"),
    ("x/" + "a" * 254, LONG),
    ("a" * 248, LONG),
    ("example.com/" + "a" * 256, LONG),
    ("busybox@sha256:" + "A" * 64, "invalid checksum digest format"),
    ("busybox@sha256:" + HEX32, "invalid checksum digest length"),
    (f"busybox@sha512:{'a' * 64}", "invalid checksum digest length"),
    (f"busybox@md5:{HEX32}", "unsupported digest algorithm"),
    (f"busybox@sha256+b64:{HEX32}", "unsupported digest algorithm"),
])
def test_invalid_references_are_refused_with_dockers_message(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as caught:
        parse(text)
    assert str(caught.value) == message


# -- property-based: references made from the grammar -------------------------------------

_ALNUM = st.text("abcz0189", min_size=1, max_size=4)
_SEPARATOR = st.sampled_from([".", "_", "__", "-", "---"])


@st.composite
def _component(draw: st.DrawFn, dots: bool = True) -> str:
    parts = [draw(_ALNUM)]
    for _ in range(draw(st.integers(0, 3))):
        parts += [draw(_SEPARATOR.filter(lambda s: dots or s != ".")), draw(_ALNUM)]
    return "".join(parts)


_LABEL = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
_HOST = st.one_of(
    st.lists(_LABEL, min_size=2, max_size=4).map(".".join),       # a dot makes it a host
    st.just("localhost"),
    st.from_regex(r"\[[a-fA-F0-9]{0,4}:[a-fA-F0-9:]{0,8}\]", fullmatch=True),  # a colon makes it a host
)
_DOMAIN = st.tuples(_HOST, st.one_of(st.just(""), st.integers(0, 65535).map(lambda p: f":{p}"))).map("".join)
_TAG = st.from_regex(re.compile(r"[\w][\w.-]{0,127}", re.ASCII), fullmatch=True)
_DIGEST = st.one_of(st.from_regex(r"sha256:[a-f0-9]{64}", fullmatch=True),
                    st.from_regex(r"sha512:[a-f0-9]{128}", fullmatch=True))


@st.composite
def references(draw: st.DrawFn) -> tuple[str, Reference]:
    """A reference text from the grammar and what it must normalise to."""
    domain = draw(st.one_of(st.none(), _DOMAIN))
    # Without a domain a first component with a dot would be read as a host: leave dots out.
    first = draw(_component(dots=domain is not None))
    path = "/".join([first, *draw(st.lists(_component(), max_size=3))])
    tag = draw(st.one_of(st.none(), _TAG))
    digest = draw(st.one_of(st.none(), _DIGEST))
    text = f"{domain}/{path}" if domain else path
    text += (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    assume(not re.fullmatch(r"[a-f0-9]{64}", text))  # Docker takes that for an image ID
    if domain is None or domain == "docker.io":
        domain, path = "docker.io", path if "/" in path else f"library/{path}"
    assume(len(path) <= 255)
    return text, Reference(domain, path, tag or (None if digest else "latest"), digest)


@given(references())
@example(("localhost/a.b", Reference("localhost", "a.b", "latest", None)))
@example((f"a-b.c:1/d__e---f@{DIGEST}", Reference("a-b.c:1", "d__e---f", None, DIGEST)))
def test_references_from_the_grammar_parse_and_round_trip(case: tuple[str, Reference]) -> None:
    text, expected = case
    ref = parse(text)
    assert ref == expected
    assert parse(str(ref)) == ref
    assert parse(ref.familiar()) == ref


@given(st.text(st.one_of(st.sampled_from("aA0_.-:/@[] "), st.characters()), max_size=40))
@example("busybox@")
@example("a" * 300)
def test_any_text_parses_or_is_refused_with_freights_error(text: str) -> None:
    try:
        ref = parse(text)
    except InvalidReference:
        return
    assert parse(str(ref)) == ref
