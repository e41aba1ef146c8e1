"""Building image configs, manifests and descriptors, byte-for-byte reproducibly."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from freight.image.mediatypes import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST
from freight.image.platform import host_platform

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

def canonical_json(obj: Any, errors: str = "strict") -> bytes:
    """The one serialisation freight writes: sorted keys, no spaces, UTF-8 (``errors`` as
    for ``str.encode``)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", errors)


def rfc3339(timestamp: float) -> str:
    when = datetime.fromtimestamp(timestamp, UTC)
    if when.microsecond:
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def source_date_epoch() -> int | None:
    """SOURCE_DATE_EPOCH from the environment, as reproducible builds define it."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    return int(value) if value and value.isdigit() else None


def descriptor(media_type: str, digest: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def image_config(diff_ids: list[str], history: list[dict[str, Any]], created: str,
                 config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        **host_platform(),
        "config": config or {},
        "created": created,
        "history": history,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }


def image_manifest(config_digest: str, config_size: int, layers: list[dict[str, Any]],
                   annotations: dict[str, str] | None = None) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config_digest, config_size),
        "layers": layers,
    }
    if annotations:
        manifest["annotations"] = annotations
    return manifest


def layer_descriptor(diff_id: str, size: int) -> dict[str, Any]:
    """Locally stored layers are uncompressed tars, as Docker keeps them."""
    return descriptor(OCI_LAYER, diff_id, size)
