"""``docker commit``: a new image from a container's changes (its overlay upper dir as one
more layer over its image's), with the container's config as the image's."""

from __future__ import annotations

import time
from pathlib import Path

from freight.image.canonical import layer_descriptor, rfc3339
from freight.runtime import cgroups
from freight.runtime.containers import get
from freight.runtime.events import container_event
from freight.store.images import Image
from freight.store.layerwrite import write_layer

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.store import Store

# The container Config keys an image keeps (Docker's image config).
IMAGE_CONFIG_KEYS = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels",
                     "StopSignal", "Healthcheck", "OnBuild", "Shell", "ArgsEscaped")


def container_image_config(config: dict[str, Any]) -> dict[str, Any]:
    """The image config part of a container's Config (what ``commit`` keeps of it)."""
    return {k: config[k] for k in IMAGE_CONFIG_KEYS if config.get(k) not in (None, "", {}, [])}


def commit(store: Store, ref: str, config: dict[str, Any], tags: list[str], comment: str = "",
           author: str = "", pause: bool = True) -> Image:
    """Store the container's changes as a new image with ``config`` (an image's ``config``
    object); ``pause``: freeze a running container meanwhile, as Docker does by default."""
    c = get(store, ref)
    base = store.resolve_image(c.image_id)
    cgroup = cgroups.load(c.id) if pause and c.running and not c.state.get("Paused") else None
    if cgroup is not None:
        cgroup.freeze()
    created = rfc3339(time.time())
    history = {"created": created, "created_by": " ".join([c.record["Path"], *c.record["Args"]]),
               **({"comment": comment} if comment else {}), **({"author": author} if author else {})}
    with store.writing():
        try:
            with store.blobs.writer(encode=True) as blob:
                write_layer(Path(f"{c.directory(store)}/upper"), blob, overlay_upper=True)
                diff_id = blob.commit()
        finally:
            if cgroup is not None:
                cgroup.thaw()
        image = _write(store, base, diff_id, blob.size, config, created, history, tags, author)
    container_event(store, c, "commit", comment=comment)
    return image


def _write(store: Store, base: Image, diff_id: str, size: int, config: dict[str, Any], created: str,
           history: dict[str, Any], tags: list[str], author: str) -> Image:
    image_config = dict(base.config)
    image_config.update(config=config, created=created,
                        history=[*base.config.get("history", []), history],
                        rootfs={"type": "layers", "diff_ids": [*base.diff_ids, diff_id]})
    image_config.pop("container_config", None)
    if author:
        image_config["author"] = author
    return store.write_image(image_config, [*base.layers, layer_descriptor(diff_id, size)], tags)
