"""An image's referrers (its provenance, ``freight.store.referrers``) in saved archives.

``save`` (the Docker 25+ tar and ``oci:DIR`` alike) writes each artifact kept beside an
image into ``blobs/sha256/`` — its manifest (whose ``subject`` is the image's manifest,
saved byte for byte), its payload and the empty config — and names the artifacts'
manifest digests, comma-separated, in the annotation ``dev.freight.referrers`` of the
image's ``index.json`` entries. The referrers are not entries of ``index.json`` of their
own, so a layout of one image stays one entry, as tools reading ``oci:DIR`` without a
name (skopeo) require. ``load`` keeps each named artifact beside the image it loaded,
after checking its digest and its ``subject``.
"""

from __future__ import annotations

import json

from freight.archive.oci_layout import INDEX, blob_name
from freight.errors import DigestMismatch
from freight.image.digest import sha256_bytes
from freight.store import referrers
from freight.store.referrers import EMPTY, EMPTY_DIGEST

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.archive.source import Source
    from freight.store.images import Image
    from freight.store.store import Store

ANNOTATION = "dev.freight.referrers"


def blobs_of(store: Store, image: Image) -> tuple[list[tuple[str, bytes]], str | None]:
    """The blobs (digest, bytes) of ``image``'s referrers, and the annotation value naming
    them (None when it has none)."""
    out: list[tuple[str, bytes]] = []
    names: list[str] = []
    for artifact in referrers.referrers(store, image.manifest_digest):
        payload = artifact.payload_descriptor()
        out += [(artifact.digest, artifact.raw), (payload["digest"], referrers.payload(store, artifact)),
                (EMPTY_DIGEST, EMPTY)]
        names.append(artifact.digest)
    return out, ",".join(names) or None


def annotate(descriptors: list[dict[str, Any]], value: str | None) -> list[dict[str, Any]]:
    """``descriptors`` (an image's index.json entries) naming its referrers."""
    if value is None:
        return descriptors
    return [{**d, "annotations": {**(d.get("annotations") or {}), ANNOTATION: value}} for d in descriptors]


def load_referrers(store: Store, source: Source, manifest_digest: str) -> None:
    """Keep beside the loaded image ``manifest_digest`` the referrers its index.json entries name."""
    if not source.has(INDEX):
        return
    named: set[str] = set()
    for desc in json.loads(source.read(INDEX)).get("manifests") or []:
        if desc.get("digest") == manifest_digest and (value := (desc.get("annotations") or {}).get(ANNOTATION)):
            named.update(value.split(","))
    for digest in sorted(named):
        raw = _blob(source, digest)
        doc = json.loads(raw)
        if (doc.get("subject") or {}).get("digest") != manifest_digest or not doc.get("layers"):
            continue
        referrers.add(store, manifest_digest, raw, _blob(source, doc["layers"][0]["digest"]))


def _blob(source: Source, digest: str) -> bytes:
    data = source.read(blob_name(digest))
    if sha256_bytes(data) != digest:
        raise DigestMismatch(f"blob {digest} in the archive does not match its digest")
    return data
