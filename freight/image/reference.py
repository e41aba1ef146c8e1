"""Docker image references: parsing, validation and normalisation.

Follows distribution/reference (v0.6, as the docker CLI 28 uses it) exactly:
``ParseNormalizedNamed`` then ``Parse``. ``busybox`` normalises to
``docker.io/library/busybox:latest``; a first component holding a dot, a colon
or an upper-case letter, or ``localhost``, is a registry host; a reference may
carry a tag, a digest, or both. What Docker refuses is refused with Docker's
words: "invalid reference format" (``busybox@``, ``busybox:``, ``a//b``, ...),
"invalid reference format: repository name (library/Busybox) must be
lowercase", "repository name must not be more than 255 characters" (the path,
not the host), and go-digest's "invalid checksum digest format" / "...length" /
"unsupported digest algorithm" for a digest of the right shape but not valid.

A name whose first component is a path component but not a host (``a_b.com/x``:
a dot, so it is split off as a host, but an underscore, so it is not one) has
no domain at all, as in Docker: its ``repository`` is its path.
"""

from __future__ import annotations

import re

from freight.errors import InvalidReference
from freight.record import Record, replace

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_MAX = 255
INVALID_FORMAT = "invalid reference format"

# distribution/reference's grammar (regexp.go). Go's regexps are ASCII-only (``\w`` is
# [0-9A-Za-z_]), hence re.ASCII. Compiled on first use (by ``re``'s cache): listing
# commands never validate, and compiling them all costs start-up time.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = rf"((?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?"
_NAME = rf"(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})"
_IDENTIFIER = r"[a-f0-9]{64}"
# go-digest: the algorithms it knows (with their hex length) and the shape of any digest.
_ALGORITHMS = {"sha256": 64, "sha384": 96, "sha512": 128}
_GO_DIGEST = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+"


class Reference(Record):
    """A normalised image reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """Fully qualified repository name, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def familiar_repository(self) -> str:
        """The short name Docker shows, e.g. ``busybox`` or ``localhost:5000/app``."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path.removeprefix(OFFICIAL_PREFIX)
        return self.repository

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def familiar(self) -> str:
        """The reference as Docker prints it (``busybox:latest``)."""
        text = self.familiar_repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _split_domain(name: str) -> tuple[str, str]:
    """distribution/reference's splitDockerDomain: the host part and the rest, normalised."""
    first, sep, rest = name.partition("/")
    if not sep:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + name
    if first == LEGACY_DOMAIN:
        domain, path = DEFAULT_DOMAIN, rest
    elif first == "localhost" or "." in first or ":" in first or _go_lower(first) != first:
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def _go_lower(text: str) -> str:
    """Go's strings.ToLower: Python's lower() but for the one letter whose full lower case
    is two characters (U+0130, which Go maps to a plain ``i``)."""
    return text.replace("\u0130", "i").lower()


def parse(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text`` as ``ParseNormalizedNamed`` does (plus ``TagNameOnly``
    unless ``default_tag`` is false); raise InvalidReference with Docker's wording."""
    if re.fullmatch(_IDENTIFIER, text):
        raise InvalidReference(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_domain(text)
    remote = remainder.partition(":")[0]
    if _go_lower(remote) != remote:
        raise InvalidReference(f"{INVALID_FORMAT}: repository name ({remote}) must be lowercase")
    ref = _parse_full(f"{domain}/{remainder}")
    if ref.tag is None and ref.digest is None and default_tag:
        ref = replace(ref, tag=DEFAULT_TAG)
    return ref


def _parse_full(text: str) -> Reference:
    """distribution/reference's Parse of a name that starts with its domain."""
    match = re.fullmatch(_REFERENCE, text, re.ASCII)
    if match is None:
        lower = _go_lower(text)
        if lower != text and re.fullmatch(_REFERENCE, lower, re.ASCII):
            raise InvalidReference("repository name must be lowercase")
        raise InvalidReference(INVALID_FORMAT)
    name, tag, digest = match.groups()
    named = re.fullmatch(_NAME, name, re.ASCII)
    assert named is not None  # the reference pattern holds the name pattern
    domain, path = named.groups()
    if len(path) > NAME_TOTAL_MAX:
        raise InvalidReference(f"repository name must not be more than {NAME_TOTAL_MAX} characters")
    if digest is not None:
        _check_digest(digest)
    return Reference(domain or "", path, tag, digest)


def _check_digest(digest: str) -> None:
    """go-digest's Validate, with its messages."""
    algorithm, _, encoded = digest.partition(":")
    length = _ALGORITHMS.get(algorithm)
    if length is None:
        if not re.fullmatch(_GO_DIGEST, digest, re.ASCII):
            raise InvalidReference("invalid checksum digest format")
        raise InvalidReference("unsupported digest algorithm")
    if len(encoded) != length:
        raise InvalidReference("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise InvalidReference("invalid checksum digest format")


def parse_normalized(text: str) -> Reference:
    """Split a name freight stored itself (``str()`` of a parsed reference), without validating it."""
    name, _, digest = text.partition("@")
    tag = None
    if name.rfind(":") > name.rfind("/"):
        name, _, tag = name.rpartition(":")
    domain, _, path = name.partition("/")
    if "_" in domain:  # not a host: a name with no domain (see the module's docstring)
        domain, path = "", name
    return Reference(domain, path, tag, digest or None)

