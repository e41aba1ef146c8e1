"""Docker image references: parsing, validation and normalisation.

Implements the grammar of distribution/reference as Docker uses it:
``busybox`` normalises to ``docker.io/library/busybox:latest``, a first
component with a dot, a colon or ``localhost`` is a registry host, and a
reference may carry a tag, a digest, or both.
"""

from __future__ import annotations

import re
from collections import namedtuple

from freight.errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_MAX = 255

# The grammar's patterns, compiled on first use (by ``re``'s cache): listing commands
# never validate, and compiling them all costs start-up time.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_PATH = rf"{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_HEX64 = r"[a-f0-9]{64}"


class Reference(namedtuple("Reference", "domain path tag digest", defaults=(None, None))):
    """A normalised image reference: ``domain/path[:tag][@digest]``.

    (A ``collections.namedtuple``: ``typing.NamedTuple`` would cost start-up time.)
    """

    __slots__ = ()
    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        """Fully qualified repository name, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

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
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"
                   and first.lower() == first):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def parse(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text``; raise InvalidReference with Docker's wording."""
    if not text:
        raise InvalidReference("invalid reference format")
    if re.fullmatch(_HEX64, text):
        raise InvalidReference(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    name, _, digest = text.partition("@")
    if digest and not re.fullmatch(_DIGEST, digest):
        raise InvalidReference(f"invalid reference format: invalid digest \"{digest}\"")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not re.fullmatch(_TAG, tag):
            raise InvalidReference(f"invalid reference format: invalid tag \"{tag}\"")
    domain, path = _split_domain(name)
    if domain != DEFAULT_DOMAIN and not re.fullmatch(_DOMAIN, domain):
        raise InvalidReference(f"invalid reference format: invalid registry \"{domain}\"")
    if not re.fullmatch(_PATH, path):
        if path.lower() != path and re.fullmatch(_PATH, path.lower()):
            raise InvalidReference(
                f"invalid reference format: repository name ({path}) must be lowercase")
        raise InvalidReference(f"invalid reference format: \"{text}\"")
    if len(f"{domain}/{path}") > NAME_TOTAL_MAX:
        raise InvalidReference(
            f"invalid reference format: repository name must not be more than {NAME_TOTAL_MAX} characters")
    if tag is None and not digest and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest or None)


def parse_normalized(text: str) -> Reference:
    """Split a name freight stored itself (``str()`` of a parsed reference), without validating it."""
    name, _, digest = text.partition("@")
    tag = None
    if name.rfind(":") > name.rfind("/"):
        name, _, tag = name.rpartition(":")
    domain, _, path = name.partition("/")
    return Reference(domain, path, tag, digest or None)


def is_valid(text: str) -> bool:
    try:
        parse(text)
    except InvalidReference:
        return False
    return True
