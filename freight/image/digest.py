"""Content digests and the identifiers derived from them."""

from __future__ import annotations

import re

from freight.errors import InvalidArgument

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from _hashlib import HASH

_SHA256 = r"sha256:[a-f0-9]{64}"


def new_sha256() -> HASH:
    """A sha256 hasher; hashlib is imported on first use (loading OpenSSL costs start-up time)."""
    import hashlib

    return hashlib.sha256()


def sha256_bytes(data: bytes) -> str:
    hasher = new_sha256()
    hasher.update(data)
    return "sha256:" + hasher.hexdigest()


def check(digest: str) -> str:
    """Return ``digest`` if it is a well-formed sha256 digest, else raise."""
    if not re.fullmatch(_SHA256, digest):
        raise InvalidArgument(f"invalid digest \"{digest}\"")
    return digest


def hex_of(digest: str) -> str:
    return digest.partition(":")[2]


def short_id(digest: str) -> str:
    """The 12-character ID Docker shows for an image or container."""
    return hex_of(digest)[:12] if ":" in digest else digest[:12]


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI chain IDs: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    chains: list[str] = []
    for diff_id in diff_ids:
        chains.append(diff_id if not chains else sha256_bytes(f"{chains[-1]} {diff_id}".encode()))
    return chains
