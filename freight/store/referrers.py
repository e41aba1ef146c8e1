"""Artifacts kept beside an image: OCI 1.1 referrer manifests whose ``subject`` is the image.

A build's provenance (``freight.builder.provenance``) is one: an OCI image manifest with an
``artifactType``, the empty config (``{}``) and one layer, the payload, and a ``subject``
naming the image's manifest. It lives in the blob store like any manifest, and the
reference table links it to the image: the owner ``referrer`` / the subject's manifest
digest holds the artifact's three blobs. The image's own manifest and config are not
touched, so its ID and digest do not depend on whether it has any referrer. GC keeps a
referrer's blobs while its subject is an image's manifest (``freight.store.gc``).
"""

from __future__ import annotations

import json

from freight.errors import FreightError
from freight.image.canonical import canonical_json
from freight.image.digest import sha256_bytes
from freight.image.mediatypes import OCI_MANIFEST
from freight.record import Record
from freight.store.refs import BLOB, REFERRER

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.store.store import Store

IN_TOTO = "application/vnd.in-toto+json"  # an in-toto statement, and the artifact type of one
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
EMPTY_DIGEST = sha256_bytes(EMPTY)
EMPTY_DESCRIPTOR = {"mediaType": EMPTY_MEDIA_TYPE, "digest": EMPTY_DIGEST, "size": len(EMPTY)}


class Referrer(Record):
    """An artifact whose subject is an image: its manifest (bytes, digest) and payload descriptor."""

    digest: str
    raw: bytes
    artifact_type: str

    @property
    def manifest(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.raw)
        return doc

    def payload_descriptor(self) -> dict[str, Any]:
        layers = self.manifest.get("layers") or []
        if not layers:
            raise FreightError(f"artifact {self.digest} has no payload")
        desc: dict[str, Any] = layers[0]
        return desc


def artifact_manifest(subject: dict[str, Any], artifact_type: str, payload_descriptor: dict[str, Any],
                      annotations: dict[str, str] | None = None) -> bytes:
    """The bytes of a referrer manifest for ``payload_descriptor`` whose subject is ``subject``."""
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                           "config": EMPTY_DESCRIPTOR, "layers": [payload_descriptor], "subject": subject}
    if annotations:
        doc["annotations"] = annotations
    return canonical_json(doc)


def attach(store: Store, subject: dict[str, Any], artifact_type: str, media_type: str, payload: bytes,
           annotations: dict[str, str] | None = None) -> str:
    """Keep ``payload`` beside the image whose manifest ``subject`` describes; return the
    artifact manifest's digest. An artifact of the same type already attached is replaced."""
    payload_desc = {"mediaType": media_type, "digest": sha256_bytes(payload), "size": len(payload)}
    raw = artifact_manifest(subject, artifact_type, payload_desc, annotations)
    return add(store, subject["digest"], raw, payload)


def add(store: Store, subject_digest: str, raw: bytes, payload: bytes) -> str:
    """Keep an artifact manifest (``raw``) and its payload for the subject; return its digest."""
    doc = json.loads(raw)
    digest = sha256_bytes(raw)
    for data, blob in ((raw, digest), (payload, doc["layers"][0]["digest"]), (EMPTY, EMPTY_DIGEST)):
        if not store.blobs.has(blob):  # a rebuild's statement is most often the one kept already
            store.blobs.put(data, blob)
    kept = [r for r in referrers(store, subject_digest) if r.artifact_type != doc.get("artifactType")]
    held = [(BLOB, digest), (BLOB, doc["layers"][0]["digest"]), (BLOB, EMPTY_DIGEST)]
    for other in kept:
        held += [(BLOB, other.digest), (BLOB, other.payload_descriptor()["digest"])]
    store.refs.replace(REFERRER, subject_digest, held)
    return digest


def referrers(store: Store, subject_digest: str, artifact_type: str | None = None) -> list[Referrer]:
    """The artifacts kept for the image whose manifest digest is ``subject_digest``."""
    found: list[Referrer] = []
    for kind, digest in sorted(store.refs.held_by(REFERRER, subject_digest)):
        if kind != BLOB or not store.blobs.has(digest) or store.blobs.size(digest) > 1 << 20:
            continue
        raw = store.blobs.read(digest)
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        subject = doc.get("subject") if isinstance(doc, dict) and doc.get("mediaType") == OCI_MANIFEST else None
        if isinstance(subject, dict) and subject.get("digest") == subject_digest \
                and (artifact_type is None or doc.get("artifactType") == artifact_type):
            found.append(Referrer(digest, raw, str(doc.get("artifactType", ""))))
    return found


def payload(store: Store, referrer: Referrer) -> bytes:
    return store.blobs.read(referrer.payload_descriptor()["digest"])
