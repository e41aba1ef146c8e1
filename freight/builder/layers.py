"""A step's layer from the build cache.

Every step that makes a layer (RUN, COPY, ADD, WORKDIR) computes a cache key
(``freight.builder.cache``) and asks ``cached_layer``: on a hit the layer's
snapshot is made sure of and the layer added to the stage's State. On a miss
the step fills a directory that ``freight.builder.commit`` turns into the
layer. ``from_cache_images`` is ``--cache-from``: a RUN layer an image made on
the same base.
"""

from __future__ import annotations

from freight.builder import cache
from freight.builder.state import BuildSession, Layer, State
from freight.errors import NotFound
from freight.image.canonical import layer_descriptor, rfc3339
from freight.image.digest import chain_ids

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.builder.progress import Vertex


def cached_layer(session: BuildSession, state: State, key: str, v: Vertex) -> State | None:
    """Apply a cache hit to ``state``, or None on a miss."""
    if session.opts.no_cache:
        return None
    store = session.store
    hit = cache.lookup(store, key)
    if hit is None:
        return None
    if hit.get("empty"):
        v.cached()
        session.steps_cached += 1
        return with_result(state, hit)
    if not store.blobs.has(hit["blob"]):
        return None
    chains = chain_ids([layer.diff_id for layer in state.layers] + [hit["diff_id"]])
    if not store.snapshots.exists(chains[-1]):
        parent = chains[-2] if len(chains) > 1 else None
        with session.lock, store.writing():
            store.snapshots.unpack(chains[-1], parent, hit["diff_id"], lambda: store.blobs.open(hit["blob"]))
    v.cached()
    session.steps_cached += 1
    return with_result(state, hit)


def with_result(state: State, result: dict[str, Any]) -> State:
    """``state`` with the layer of a step's result (a cache entry's value) added, if any."""
    if not result.get("empty"):
        desc = layer_descriptor(result["blob"], result["size"])
        if result.get("media_type"):
            desc["mediaType"] = result["media_type"]
        state.layers.append(Layer(desc, result["diff_id"]))
    return state


def hit_created(session: BuildSession, hit: dict[str, Any]) -> str | None:
    """The time a cached RUN step's history entry shows: the epoch, else when it ran."""
    if session.epoch is not None:
        return rfc3339(session.epoch)
    return hit.get("created")


def from_cache_images(session: BuildSession, state: State, created_by: str, key: str, v: Vertex) -> State | None:
    """``--cache-from``: take the layer of a RUN step that image made on the same base."""
    if session.opts.no_cache:
        return None
    ours = [layer.diff_id for layer in state.layers]
    for ref in session.opts.cache_from:
        try:
            img = session.store.resolve_image(ref)
        except NotFound:
            continue
        diff_ids, layer_index = img.diff_ids, 0
        for entry in img.config.get("history") or []:
            empty = entry.get("empty_layer", False)
            if (entry.get("created_by") == created_by and diff_ids[:layer_index] == ours
                    and not empty and layer_index < len(diff_ids)):
                desc = img.layers[layer_index]
                result = {"diff_id": diff_ids[layer_index], "blob": desc["digest"], "size": desc["size"],
                          "media_type": desc.get("mediaType"), "created": entry.get("created"),
                          "blobs": [desc["digest"]],
                          "snapshots": [chain_ids(diff_ids[: layer_index + 1])[-1]]}
                cache.record(session.store, key, result)
                return cached_layer(session, state, key, v)
            if not empty:
                layer_index += 1
    return None
