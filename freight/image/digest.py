"""Content digests and the identifiers derived from them."""

from __future__ import annotations

import hashlib
import re

from freight.errors import InvalidArgument

DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check(digest: str) -> str:
    """Return ``digest`` if it is a well-formed sha256 digest, else raise."""
    if not DIGEST_RE.fullmatch(digest):
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
