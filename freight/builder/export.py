"""Exporting a build's result: the image written to the store, or the ``--output``s.

The final State's config, layers and history become the image config (with the
build's ``--label``s and the build's time as ``created``). The
default output stores the image with its tags; an image already stored (a fully
cached rebuild) is only re-tagged, with no blob written. Other outputs are
``freight.builder.output``'s.
"""

from __future__ import annotations

import time

from freight.builder.state import BuildOptions, State
from freight.image import reference
from freight.image.canonical import canonical_json, image_config, image_manifest, rfc3339
from freight.image.digest import sha256_bytes

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.builder.progress import Progress
    from freight.store.store import Store


def export(store: Store, state: State, opts: BuildOptions, progress: Progress,
           epoch: int | None) -> tuple[str, list[str]]:
    """Write the build's outputs; the image ID and the tags, normalised. ``epoch``: the
    build's time (``freight.builder.timestamps``), None for the wall clock."""
    v = progress.vertex("exporting to image")
    config = dict(state.config)
    if opts.labels:
        config["Labels"] = {**(config.get("Labels") or {}), **opts.labels}
    created = rfc3339(epoch if epoch is not None else time.time())
    full = image_config([layer.diff_id for layer in state.layers], state.history, created, config)
    full.update(state.platform)
    v.status("exporting layers done")
    outputs = opts.outputs or [{"type": "docker"}]
    tags = [str(reference.parse(t)) for t in opts.tags]
    layers = [layer.descriptor for layer in state.layers]
    image_id = ""
    for out in outputs:
        kind = out.get("type", "docker")
        if kind in ("docker", "image") and not out.get("dest"):
            image_id = _store_image(store, full, layers, tags)
            v.status(f"writing image {image_id} done")
            for tag in tags:
                v.status(f"naming to {tag} done")
        else:
            # Archives and file trees: imported only for a build that asks for one.
            from freight.builder.output import export_output

            image_id = export_output(store, full, layers, tags, out)
    v.done()
    return image_id, tags


def _store_image(store: Store, config: dict[str, Any], layers: list[dict[str, Any]], tags: list[str]) -> str:
    """Store the image; an image already stored (a cached rebuild) is only re-tagged, with no blob write."""
    config_bytes = canonical_json(config)
    config_digest = sha256_bytes(config_bytes)
    manifest = canonical_json(image_manifest(config_digest, len(config_bytes), layers))
    manifest_digest = sha256_bytes(manifest)
    if store.blobs.has(config_digest) and store.blobs.has(manifest_digest):
        return store.add_image(manifest_digest, tags).id
    return store.write_image(config, layers, tags).id
