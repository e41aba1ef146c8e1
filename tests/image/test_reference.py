"""Docker's reference grammar and normalisation."""

import pytest

from freight.errors import InvalidReference
from freight.image.reference import parse


@pytest.mark.parametrize("text, full, familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("team/app", "docker.io/team/app:latest", "team/app:latest"),
    ("localhost:5000/team/app:1.0", "localhost:5000/team/app:1.0", "localhost:5000/team/app:1.0"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("127.0.0.1:5000/a/b/c:v_1.2-3", "127.0.0.1:5000/a/b/c:v_1.2-3", "127.0.0.1:5000/a/b/c:v_1.2-3"),
    ("ghcr.io/org/img", "ghcr.io/org/img:latest", "ghcr.io/org/img:latest"),
    ("a__b-c/e.f", "docker.io/a__b-c/e.f:latest", "a__b-c/e.f:latest"),
    ("[::1]:5000/app:v", "[::1]:5000/app:v", "[::1]:5000/app:v"),
])
def test_normalises_like_docker(text: str, full: str, familiar: str) -> None:
    ref = parse(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


def test_digest_reference_has_no_default_tag() -> None:
    digest = "sha256:" + "ab" * 32
    ref = parse(f"busybox@{digest}")
    assert ref.tag is None and ref.digest == digest
    assert str(ref) == f"docker.io/library/busybox@{digest}"
    both = parse(f"localhost:5000/app:1@{digest}")
    assert (both.tag, both.digest) == ("1", digest)


@pytest.mark.parametrize("text, message", [
    ("", "invalid reference format"),
    ("Busybox", "must be lowercase"),
    ("busybox:", "invalid tag"),
    ("busybox:bad tag", "invalid"),
    ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
    ("busybox@sha256:123", "invalid digest"),
    ("-leading/dash", "invalid reference format"),
    ("double//slash", "invalid reference format"),
    ("trailing-/x", "invalid reference format"),
    ("a:b:c", "invalid"),
    ("x/" + "a" * 260, "must not be more than 255 characters"),
])
def test_invalid_references_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=message):
        parse(text)
