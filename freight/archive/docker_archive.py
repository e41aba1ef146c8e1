"""The Docker archive (``docker save``): ``manifest.json`` and ``repositories``.

``manifest.json`` is ``[{"Config": PATH, "RepoTags": [...], "Layers": [PATH, ...]}]``.
Docker before 25 put each layer at ``<v1 id>/layer.tar`` (beside ``<v1 id>/json``
and ``VERSION``, and as a symbolic link to the first copy when a layer
repeats) and the config at ``<hex>.json``; Docker 25+ points both into the OCI
layout's ``blobs/sha256/``. Layer files are uncompressed tars from Docker, but
other writers (and the containerd image store) put compressed ones there, so
their compression is sniffed.

An archive image gets an OCI manifest freight writes over those files:
uncompressed layers keep their digest (equal to the diff_id), compressed ones
are kept as they are with the matching ``+gzip``/``+zstd`` media type.
"""

from __future__ import annotations

import json

from freight.archive.model import ArchiveImage
from freight.archive.oci_layout import blob_name
from freight.archive.source import ArchiveError, Source, clean_name, compression_of
from freight.errors import InvalidReference
from freight.image import reference
from freight.image.canonical import canonical_json, descriptor, image_manifest
from freight.image.digest import hex_of, sha256_bytes
from freight.image.mediatypes import OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD
from freight.image.reference import Reference

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

MANIFEST = "manifest.json"
REPOSITORIES = "repositories"
_LAYER_TYPES = {"none": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}


def read_images(source: Source) -> list[ArchiveImage]:
    """One image per manifest.json entry, in its order."""
    items = json.loads(source.read(MANIFEST))
    if not isinstance(items, list) or not items:
        raise ArchiveError("invalid archive: manifest.json lists no image")
    return [_image(source, item) for item in items]


def _image(source: Source, item: dict[str, Any]) -> ArchiveImage:
    config_name = clean_name(item["Config"])
    config_entry = source.entry(config_name)
    config = source.read(config_name)
    blobs = {config_entry.digest: config_name}
    layers = []
    for path in item.get("Layers") or []:
        name = clean_name(path)
        entry = source.entry(name)
        layers.append(descriptor(_LAYER_TYPES[compression_of(entry.path)], entry.digest, entry.size))
        blobs.setdefault(entry.digest, name)
    manifest = canonical_json(image_manifest(config_entry.digest, config_entry.size, layers))
    names = [_repo_tag(tag) for tag in item.get("RepoTags") or []]
    return ArchiveImage(manifest, sha256_bytes(manifest), config, config_entry.digest, layers, names, blobs)


def _repo_tag(text: str) -> Reference:
    try:
        ref = reference.parse(text)
    except InvalidReference as err:
        raise ArchiveError(f"invalid archive: bad RepoTags entry {text!r}: {err}") from None
    if ref.digest:
        raise ArchiveError(f"invalid archive: RepoTags entry {text!r} is not a tag")
    return ref


def manifest_item(config_digest: str, refs: list[Reference], layer_digests: list[str]) -> dict[str, Any]:
    """One manifest.json entry, as Docker 25+ writes it (paths into ``blobs/``)."""
    return {
        "Config": blob_name(config_digest),
        "RepoTags": [ref.familiar() for ref in refs] or None,
        "Layers": [blob_name(d) for d in layer_digests],
    }


def manifest_json(items: list[dict[str, Any]]) -> bytes:
    """The manifest.json file: Go's json.Encoder output, with its newline."""
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def repositories_json(tags: list[tuple[Reference, str]]) -> bytes:
    """The legacy ``repositories`` file: familiar name → tag → hex of the top layer's diff_id."""
    repos: dict[str, dict[str, str]] = {}
    for ref, top_diff_id in tags:
        repos.setdefault(ref.familiar_repository, {})[ref.tag or "latest"] = hex_of(top_diff_id)
    return json.dumps(repos, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode() + b"\n"
