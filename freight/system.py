"""Whole-engine maintenance: ``system prune`` and ``system df``.

This sits above the store, runtime and builder and combines them, so the CLI
and the API service offer the same behaviour.
"""

from __future__ import annotations

import json
import os
import stat

from freight.builder.cache import prune_cache
from freight.record import Record, field
from freight.runtime.containers import list_containers
from freight.runtime.prune import container_size, prune_containers, prune_volumes, tree_size
from freight.runtime.volumes import list_volumes, used_volumes
from freight.store import scratch
from freight.store.prune import image_filter, prune_images
from freight.store.store import Store


class SystemPruneReport(Record, frozen=False):
    """What ``system prune`` removed, and the bytes it freed."""

    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)
    build_cache: list[str] = field(default_factory=list)
    reclaimed: int = 0


class Usage(Record):
    """One row of ``system df``: how many there are, how many are in use, their bytes, and the
    bytes removing those not in use would free."""

    kind: str
    total: int
    active: int
    size: int
    reclaimable: int


def prune_system(store: Store, all_unused: bool = False, volumes: bool = False,
                 filters: dict[str, list[str]] | None = None) -> SystemPruneReport:
    """Stopped containers, (``volumes``) unused anonymous volumes, dangling (``all_unused``:
    unused) images and build cache, in the order that frees each for the next; ``filters``
    (``until``, ``label``, ``label!``) choose the containers, images and cache entries."""
    filters = filters or {}
    report = SystemPruneReport()
    report.containers, report.reclaimed = prune_containers(store, filters)
    if volumes:
        report.volumes, freed = prune_volumes(store)
        report.reclaimed += freed
    before = _cache_keys(store)
    report.reclaimed += prune_cache(store, all_unused, collect=False, until=min(filters.get("until", [""])))
    report.build_cache = sorted(before - _cache_keys(store))
    images = prune_images(store, all_unused, image_filter(filters))
    report.images = images.images
    report.reclaimed += images.reclaimed
    return report


def _cache_keys(store: Store) -> set[str]:
    return {key for (key,) in store.db.execute("SELECT key FROM build_cache")}


def disk_usage(store: Store) -> list[Usage]:
    """``docker system df``: Images, Containers, Local Volumes, Build Cache, and freight's
    Temporary data."""
    return [_image_usage(store), _container_usage(store), _volume_usage(store), _cache_usage(store),
            temporary_usage(store)]


def _image_usage(store: Store) -> Usage:
    images = store.images.all()
    used = {row[0] for row in store.db.execute("SELECT DISTINCT image_id FROM containers")}
    chains: dict[str, int] = {}
    active_chains: set[str] = set()
    for image in images:
        for chain in image.chain_ids:
            chains[chain] = store.snapshots.size(chain)
            if image.id in used:
                active_chains.add(chain)
    size = sum(chains.values())
    active = sum(chains[c] for c in active_chains)
    return Usage("Images", len(images), sum(1 for i in images if i.id in used), size, size - active)


def _container_usage(store: Store) -> Usage:
    found = list_containers(store, all=True)
    sizes = {c.id: container_size(store, c) for c in found}
    running = [c for c in found if c.running]
    size = sum(sizes.values())
    return Usage("Containers", len(found), len(running), size, size - sum(sizes[c.id] for c in running))


def _volume_usage(store: Store) -> Usage:
    volumes = list_volumes(store)
    used = used_volumes(store)
    sizes = {v["Name"]: tree_size(v["Mountpoint"]) for v in volumes}
    size = sum(sizes.values())
    active = [name for name in sizes if name in used]
    return Usage("Local Volumes", len(volumes), len(active), size, size - sum(sizes[n] for n in active))


def _cache_usage(store: Store) -> Usage:
    """Build cache: the layer blobs its entries keep that no image uses, as the space they take on disk."""
    used: set[str] = set()
    for image in store.images.all():
        used.update(layer["digest"] for layer in image.layers)
    rows = store.db.execute("SELECT value FROM build_cache").fetchall()
    blobs: set[str] = set()
    for (value,) in rows:
        blobs.update(json.loads(value).get("blobs", []))
    size = sum(store.blobs.disk_size(b) for b in blobs if b not in used)
    return Usage("Build Cache", len(rows), 0, size, size)


def temporary_usage(store: Store) -> Usage:
    """Temporary data (``freight.store.scratch``): active is what running writers hold,
    reclaimable what killed ones left, which the next writer (or GC) removes."""
    found = scratch.entries(store.root_path)
    sizes = [(entry.owned, entry_size(entry.path)) for entry in found]
    size = sum(s for _owned, s in sizes)
    return Usage("Temporary", len(found), sum(1 for e in found if e.owned), size,
                 sum(s for owned, s in sizes if not owned))


def entry_size(path: str) -> int:
    """The bytes of a file, or of the files below a directory."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0
    return tree_size(path) if stat.S_ISDIR(st.st_mode) else st.st_size
