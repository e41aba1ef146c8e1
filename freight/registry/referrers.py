"""An image's referrers (its provenance: ``freight.builder.provenance``) to and from a registry.

``push_referrers`` follows ``push``: each artifact kept beside the image
(``freight.store.referrers``) goes up as an OCI 1.1 artifact manifest whose ``subject``
is the manifest just pushed (whose digest may differ from the local one, as push
compresses layers: the statement's own ``subject`` is rewritten to name it too). A
registry with the referrers API answers the manifest's ``PUT`` with ``OCI-Subject``;
for one without (the CNCF registry 2.8), the distribution-spec's fallback is kept up to
date: the tag ``sha256-<hex of the subject digest>`` names an image index listing the
referrers. ``fetch_referrer`` finds an artifact either way — ``GET
/v2/<name>/referrers/<digest>``, else that tag — and ``pull_referrer`` keeps it beside the
pulled image, for ``pull --provenance``.
"""

from __future__ import annotations

import functools
import io
import json

from freight.errors import FreightError
from freight.image.canonical import canonical_json
from freight.image.digest import sha256_bytes
from freight.image.mediatypes import OCI_INDEX, OCI_MANIFEST
from freight.registry.client import Registry, push_scope
from freight.registry.connections import RegistryError
from freight.store import referrers
from freight.store.referrers import EMPTY, EMPTY_DIGEST, artifact_manifest

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.image.reference import Reference
    from freight.store.images import Image
    from freight.store.store import Store


def fallback_tag(digest: str) -> str:
    """The referrers tag of a subject: ``sha256:abc...`` → ``sha256-abc...``."""
    return digest.replace(":", "-", 1)


def push_referrers(store: Store, registry: Registry, repo: str, image: Image, subject: dict[str, Any],
                   name: str) -> list[str]:
    """Push the artifacts kept beside ``image`` with ``subject`` (the pushed manifest's
    descriptor; ``name``: the pushed reference); return their manifest digests."""
    pushed: list[str] = []
    for artifact in referrers.referrers(store, image.manifest_digest):
        payload = _resubject(referrers.payload(store, artifact), subject, name)
        payload_desc = {**artifact.payload_descriptor(), "digest": sha256_bytes(payload), "size": len(payload)}
        raw = artifact_manifest(subject, artifact.artifact_type, payload_desc, artifact.manifest.get("annotations"))
        for data, digest in ((EMPTY, EMPTY_DIGEST), (payload, payload_desc["digest"])):
            if not registry.has_blob(repo, digest, push_scope(repo)):
                registry.upload_blob(repo, digest, len(data), functools.partial(io.BytesIO, data))
        if not registry.put_referrer(repo, raw, OCI_MANIFEST):
            _add_to_fallback(registry, repo, subject["digest"], _descriptor(raw, artifact.artifact_type))
        pushed.append(sha256_bytes(raw))
    return pushed


def _resubject(payload: bytes, subject: dict[str, Any], name: str) -> bytes:
    """An in-toto statement's ``subject`` made the pushed manifest (other payloads as they are)."""
    try:
        doc = json.loads(payload)
    except ValueError:
        return payload
    if not isinstance(doc, dict) or "subject" not in doc:
        return payload
    doc["subject"] = [{"name": name, "digest": {"sha256": subject["digest"].removeprefix("sha256:")}}]
    return canonical_json(doc)


def _descriptor(raw: bytes, artifact_type: str) -> dict[str, Any]:
    doc = json.loads(raw)
    desc = {"mediaType": OCI_MANIFEST, "digest": sha256_bytes(raw), "size": len(raw), "artifactType": artifact_type}
    if doc.get("annotations"):
        desc["annotations"] = doc["annotations"]
    return desc


def _add_to_fallback(registry: Registry, repo: str, subject: str, desc: dict[str, Any]) -> None:
    """Add ``desc`` to the index under the subject's fallback tag (made if missing)."""
    tag = fallback_tag(subject)
    try:
        data, _, _ = registry.get_manifest(repo, tag)
        index = json.loads(data)
    except RegistryError:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    entries = [d for d in index.get("manifests") or [] if d.get("digest") != desc["digest"]]
    index["manifests"] = [*entries, desc]
    registry.put_manifest(repo, tag, canonical_json(index), OCI_INDEX)


def fetch_referrer(registry: Registry, repo: str, subject: str, artifact_type: str) -> tuple[bytes, bytes] | None:
    """The first referrer of ``subject`` of ``artifact_type``: (its manifest, its payload), or None."""
    found = registry.referrers(repo, subject, artifact_type)
    if found is None:  # no referrers API: the fallback tag
        try:
            data, _, _ = registry.get_manifest(repo, fallback_tag(subject))
        except RegistryError:
            return None
        found = [d for d in json.loads(data).get("manifests") or [] if d.get("artifactType") == artifact_type]
    if not found:
        return None
    raw, _, _ = registry.get_manifest(repo, found[0]["digest"])
    doc = json.loads(raw)
    if (doc.get("subject") or {}).get("digest") != subject or not doc.get("layers"):
        raise FreightError(f"referrer {found[0]['digest']} does not refer to {subject}")
    payload_desc = doc["layers"][0]
    body = registry.open_blob(repo, payload_desc["digest"])
    try:
        payload = body.read()
    finally:
        body.close()
    if sha256_bytes(payload) != payload_desc["digest"]:
        raise FreightError(f"blob {payload_desc['digest']}: content digest does not match")
    return raw, payload


def pull_referrer(store: Store, ref: Reference, image: Image, artifact_type: str) -> str | None:
    """Find the artifact of ``artifact_type`` that refers to the manifest ``ref`` was pulled
    as, and keep it beside ``image``; its local manifest digest, or None when there is none."""
    pulled = [name.partition("@")[2] for name in image.repo_digests if name.partition("@")[0] == ref.repository]
    if not pulled:
        raise FreightError(f"{ref.familiar()} was not pulled from a registry")
    with Registry(ref.domain) as registry:
        registry.ping()
        found = fetch_referrer(registry, ref.path, pulled[0], artifact_type)
    if found is None:
        return None
    raw, payload = found
    doc = json.loads(raw)
    subject = {"mediaType": image.manifest.get("mediaType") or OCI_MANIFEST, "digest": image.manifest_digest,
               "size": store.blobs.size(image.manifest_digest)}
    with store.writing():
        return referrers.attach(store, subject, artifact_type, doc["layers"][0]["mediaType"], payload,
                                doc.get("annotations"))
