"""The OCI image layout: ``oci-layout``, ``index.json`` and ``blobs/<alg>/<hex>``.

Reading follows the index to image manifests, through nested image indexes
(containerd and BuildKit exports) to the manifest for this machine's platform.
A descriptor names its image with ``io.containerd.image.name`` (a full
reference, as Docker 25+ and containerd write) or
``org.opencontainers.image.ref.name`` when that holds a reference with a tag;
a bare tag there (``skopeo copy ... oci:DIR:latest``) names no repository, so
such an image loads untagged.

Writing produces the index Docker 25+ writes: compact JSON, one descriptor per
image and tag, annotated with the full name and the tag.
"""

from __future__ import annotations

import json

from freight.archive.model import ArchiveImage
from freight.archive.source import ArchiveError, Source
from freight.errors import DigestMismatch, InvalidReference
from freight.image import reference
from freight.image.digest import check
from freight.image.mediatypes import INDEXES, MANIFESTS, OCI_INDEX
from freight.image.platform import host_platform
from freight.image.reference import Reference

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

LAYOUT = "oci-layout"
INDEX = "index.json"
LAYOUT_CONTENT = b'{"imageLayoutVersion": "1.0.0"}'
IMAGE_NAME = "io.containerd.image.name"
REF_NAME = "org.opencontainers.image.ref.name"
_MAX_DEPTH = 4


def blob_name(digest: str) -> str:
    """Where a blob lives in a layout: ``blobs/sha256/<hex>``."""
    algorithm, _, encoded = check(digest).partition(":")
    return f"blobs/{algorithm}/{encoded}"


def go_json(obj: Any) -> bytes:
    """JSON as Go's encoding/json writes it: compact, fields in the order given."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def index_descriptor(media_type: str, digest: str, size: int, ref: Reference | None) -> dict[str, Any]:
    """An ``index.json`` entry for a manifest; ``ref`` (with a tag) names it."""
    desc: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
    if ref is not None:
        desc["annotations"] = {IMAGE_NAME: str(ref), REF_NAME: ref.tag}
    return desc


def index_json(descriptors: list[dict[str, Any]]) -> bytes:
    return go_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors})


def names_from(annotations: dict[str, str]) -> list[Reference]:
    """The name an index descriptor gives its image (see the module docstring)."""
    for key in (IMAGE_NAME, REF_NAME):
        value = annotations.get(key)
        if not value:
            continue
        try:
            ref = reference.parse(value, default_tag=False)
        except InvalidReference:
            continue
        if ref.tag:
            return [ref.with_tag(ref.tag)]
    return []


def read_blob(source: Source, desc: dict[str, Any]) -> bytes:
    """A small blob named by a descriptor, checked against its digest and size."""
    name = blob_name(desc["digest"])
    entry = source.entry(name)
    if entry.digest != desc["digest"]:
        raise DigestMismatch(f"blob {name}: content digest {entry.digest} does not match {desc['digest']}")
    if desc.get("size", entry.size) != entry.size:
        raise DigestMismatch(f"blob {name}: size {entry.size} does not match {desc['size']}")
    return source.read(name)


def read_images(source: Source) -> list[ArchiveImage]:
    """The images ``index.json`` lists, in its order (one per descriptor, names attached)."""
    index = json.loads(source.read(INDEX))
    images = []
    for desc in index.get("manifests") or []:
        image = _image(source, desc, 0)
        if image is not None:
            image.add_names(names_from(desc.get("annotations") or {}))
            images.append(image)
    if not images:
        raise ArchiveError("invalid archive: index.json lists no image manifest")
    return images


def _image(source: Source, desc: dict[str, Any], depth: int) -> ArchiveImage | None:
    media_type = desc.get("mediaType")
    if media_type is not None and media_type not in INDEXES | MANIFESTS:
        return None  # an artifact, not an image
    data = read_blob(source, desc)
    doc = json.loads(data)
    if "manifests" in doc:
        if depth >= _MAX_DEPTH:
            raise ArchiveError("invalid archive: image indexes nested too deeply")
        return _image(source, _platform_manifest(source, doc["manifests"]), depth + 1)
    config_desc = doc["config"]
    config = read_blob(source, config_desc)
    layers = list(doc.get("layers") or [])
    blobs = {config_desc["digest"]: blob_name(config_desc["digest"])}
    blobs.update({layer["digest"]: blob_name(layer["digest"]) for layer in layers})
    return ArchiveImage(data, desc["digest"], config, config_desc["digest"], layers, [], blobs)


def _platform_manifest(source: Source, manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """From an image index, the manifest for this machine that the archive holds."""
    host = host_platform()
    for desc in manifests:
        platform = desc.get("platform") or {}
        if (platform.get("os") == host["os"] and platform.get("architecture") == host["architecture"]
                and platform.get("variant", host.get("variant")) == host.get("variant")
                and source.has(blob_name(desc["digest"]))):
            return desc
    raise ArchiveError(f"invalid archive: it holds no image for platform {host['os']}/{host['architecture']}")
