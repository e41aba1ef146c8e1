"""What the registry server accepts as a manifest, and what a manifest needs in its repository.

``parse_manifest`` checks a manifest's JSON as far as it goes without storage (an object,
schemaVersion 2, a media type the header and the body agree on, nesting that stays
shallow); ``manifest_references`` lists the blobs and manifests it refers to, which the
repository must hold before it is accepted; ``manifest_subject`` is the manifest it refers
to as a referrer. A manifest that is not one raises MANIFEST_INVALID.
"""

from __future__ import annotations

import json

from freight.image.mediatypes import (
    DOCKER_FOREIGN_LAYER,
    INDEXES,
    MANIFESTS,
    OCI_INDEX,
    OCI_LAYER_NONDIST,
    OCI_MANIFEST,
)
from freight.registry.apierrors import DistributionError
from freight.registry.storage import valid_digest

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

MAX_MANIFEST = 4 << 20
MAX_MANIFEST_DEPTH = 100  # nesting of a manifest's JSON; real ones stay under 10
MANIFEST_TYPES = MANIFESTS | INDEXES
NONDISTRIBUTABLE = (DOCKER_FOREIGN_LAYER, OCI_LAYER_NONDIST)


def _header_value(content_type: str | None) -> str:
    """A Content-Type header's media type, without its parameters."""
    return (content_type or "").split(";", 1)[0].strip()


def _descriptor_digest(value: Any) -> str:
    """The digest of a manifest descriptor, or MANIFEST_INVALID when it is malformed."""
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("mediaType", ""), str)
        or not isinstance(value.get("digest"), str)
        or not valid_digest(value["digest"])
        or not isinstance(value.get("size"), int)
        or value["size"] < 0
    ):
        raise DistributionError("MANIFEST_INVALID", {"descriptor": value})
    digest: str = value["digest"]
    return digest


def _nested_deeper(doc: Any, limit: int) -> bool:
    """True when JSON arrays and objects nest more than limit levels (no recursion)."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in value)
    return False


def parse_manifest(data: bytes, content_type: str) -> tuple[dict[str, Any], str]:
    """The manifest's JSON and media type, checked as far as it goes without storage."""
    too_deep = DistributionError("MANIFEST_INVALID", f"nested deeper than {MAX_MANIFEST_DEPTH}")
    try:
        doc = json.loads(data)
    except ValueError:
        raise DistributionError("MANIFEST_INVALID", "manifest is not valid JSON") from None
    except RecursionError:  # too deep for the parser itself
        raise too_deep from None
    if _nested_deeper(doc, MAX_MANIFEST_DEPTH):
        raise too_deep
    if not isinstance(doc, dict):
        raise DistributionError("MANIFEST_INVALID", "manifest is not a JSON object")
    if doc.get("schemaVersion") != 2:
        raise DistributionError("MANIFEST_INVALID", "schemaVersion must be 2")
    header = _header_value(content_type)
    media_type = doc.get("mediaType")
    if media_type is None:
        if header in MANIFEST_TYPES:
            media_type = header
        else:
            media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    elif header in MANIFEST_TYPES and header != media_type:
        raise DistributionError("MANIFEST_INVALID", "Content-Type does not match mediaType")
    if not isinstance(media_type, str) or media_type not in MANIFEST_TYPES:
        raise DistributionError("MANIFEST_INVALID", f"unsupported manifest media type {media_type!r}")
    return doc, media_type


def manifest_references(doc: dict[str, Any], media_type: str) -> tuple[list[str], list[str]]:
    """(blob digests, manifest digests) a manifest needs in its repository."""
    if media_type in INDEXES:
        manifests = doc.get("manifests")
        if not isinstance(manifests, list):
            raise DistributionError("MANIFEST_INVALID", "an index needs a manifests list")
        return [], [_descriptor_digest(d) for d in manifests]
    layers = doc.get("layers", [])
    if "config" not in doc or not isinstance(layers, list):
        raise DistributionError("MANIFEST_INVALID", "a manifest needs a config and a layers list")
    blobs = [_descriptor_digest(doc["config"])]
    for layer in layers:
        digest = _descriptor_digest(layer)
        if not (layer.get("urls") and layer.get("mediaType", "").startswith(NONDISTRIBUTABLE)):
            blobs.append(digest)
    return blobs, []


def manifest_subject(doc: dict[str, Any]) -> str | None:
    subject = doc.get("subject")
    return None if subject is None else _descriptor_digest(subject)
