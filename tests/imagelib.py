"""What the tests make images of, by hand (importable from any test folder as ``imagelib``):
digests, tars, layers and images in a store."""

from __future__ import annotations

import hashlib


def sha256_digest(data: bytes) -> str:
    """``sha256:HEX`` of ``data``, as image digests are written."""
    return "sha256:" + hashlib.sha256(data).hexdigest()
