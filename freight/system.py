"""Whole-engine maintenance: ``system prune`` and ``system df``.

This sits above the store, runtime and builder and combines them, so the CLI
and the API service offer the same behaviour. What holds what in the store it
reads from the store's reference table (``freight.store.refs``), and it asks
the runtime and the builder for their own records: it runs no SQL on their tables.
"""

from __future__ import annotations

import os

from freight.builder import cache
from freight.errors import FreightError
from freight.record import Record, field
from freight.runtime.containers import list_containers
from freight.runtime.networks import prune as prune_networks
from freight.runtime.prune import container_size, prune_containers, prune_volumes, volume_size
from freight.runtime.volumes import list_volumes, used_volumes
from freight.store import scratch
from freight.store.diskusage import du
from freight.store.gc import LiveSet
from freight.store.images import Image
from freight.store.prune import PruneReport, collect, delete_images, image_filter
from freight.store.refs import BLOB, IMAGE, SNAPSHOT
from freight.store.store import Store


class SystemPruneReport(Record, frozen=False):
    """What ``system prune`` removed, and the bytes it freed."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
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
    """Stopped containers, user-defined networks no running container uses, (``volumes``)
    unused anonymous volumes, dangling (``all_unused``: unused) images and unused
    (``all_unused``: all) build cache, in the order that frees each for the next: a cache
    entry whose layer only a pruned image used is unused once it is gone. ``reclaimed`` is
    the bytes really freed, as ``du`` counts them. ``filters`` (``until``, ``label``,
    ``label!``) choose the containers, images and cache entries."""
    filters = filters or {}
    report = SystemPruneReport()
    report.containers, report.reclaimed = prune_containers(store, filters)
    report.networks = prune_networks(store, filters)
    if volumes:
        report.volumes, freed = prune_volumes(store)
        report.reclaimed += freed
    images = PruneReport(delete_images(store, all_unused, image_filter(filters)))
    before = cache.keys(store)
    report.reclaimed += cache.prune_cache(store, all_unused, collect=False, until=min(filters.get("until", [""])))
    report.build_cache = sorted(before - cache.keys(store))
    collect(store, images)
    report.images = images.images
    report.reclaimed += images.reclaimed
    return report


def disk_usage(store: Store) -> list[Usage]:
    """``docker system df``: Images, Containers, Local Volumes, Build Cache, and freight's
    Temporary data, in bytes on disk as ``du`` counts them: the rows add up to the store's
    root less its sqlite files. Images have ``blobs/`` and ``snapshots/`` (and the root's own
    few bytes) but what only the build cache holds and what a killed writer left there."""
    temporary = temporary_usage(store)
    build_cache, cache_only = _cache_usage(store)
    return [_image_usage(store, cache_only, temporary.size), _container_usage(store), _volume_usage(store), build_cache,
            temporary]


def _contents(store: Store, images: list[Image]) -> LiveSet:
    found = LiveSet()
    for image in images:
        try:
            found.blobs.update([image.manifest_digest, image.id, *(layer["digest"] for layer in image.layers)])
            found.chains.update(image.chain_ids)
        except FreightError:
            continue  # a broken image: `system check` reports it
    return found


def _bytes(store: Store, content: LiveSet) -> int:
    return (sum(store.blobs.disk_size(b) for b in content.blobs if store.blobs.has(b))
            + sum(du(os.fspath(store.snapshots.path(c))) for c in content.chains))


_ELSEWHERE = ("containers", "volumes", "buildcache-mounts")


def _image_usage(store: Store, cache_only: int, temporary: int) -> Usage:
    """Everything in the root but the other rows' directories (and the sqlite files), less
    the build cache's and the temporary data in it."""
    images = store.images.all()
    used = store.refs.held(IMAGE)
    root = store.root_path
    size = os.lstat(root).st_size - cache_only - temporary
    for entry in os.scandir(root):
        if entry.name not in _ELSEWHERE and not entry.name.startswith("metadata.db"):
            size += du(entry.path)
    active = _contents(store, [i for i in images if i.id in used])
    every = _contents(store, images)
    unused = LiveSet(every.blobs - active.blobs, every.chains - active.chains)
    return Usage("Images", len(images), sum(1 for i in images if i.id in used), size, _bytes(store, unused))


def _container_usage(store: Store) -> Usage:
    found = list_containers(store, all=True)
    sizes = {c.id: container_size(store, c) for c in found}
    running = sum(sizes[c.id] for c in found if c.running)
    size = du(f"{store.root_path}/containers")
    return Usage("Containers", len(found), sum(1 for c in found if c.running), size,
                 sum(sizes.values()) - running)


def _volume_usage(store: Store) -> Usage:
    volumes = list_volumes(store)
    used = used_volumes(store)
    unused = sum(volume_size(store, v["Name"]) for v in volumes if v["Name"] not in used)
    return Usage("Local Volumes", len(volumes), sum(1 for v in volumes if v["Name"] in used),
                 du(f"{store.root_path}/volumes"), unused)


def _cache_usage(store: Store) -> tuple[Usage, int]:
    """Build cache: the blobs and snapshots its entries hold that no image has, and the ``RUN
    --mount=type=cache`` directories; and the bytes of the first two (which are in ``blobs/``
    and ``snapshots/``)."""
    images = _contents(store, store.images.all())
    held = LiveSet(store.refs.held(BLOB, owner_kind=cache.OWNER) - images.blobs,
                    store.refs.held(SNAPSHOT, owner_kind=cache.OWNER) - images.chains)
    only = _bytes(store, held)
    size = only + du(os.fspath(cache.cache_mounts_dir(store)))
    return Usage("Build Cache", len(cache.keys(store)), 0, size, size), only


def temporary_usage(store: Store) -> Usage:
    """Temporary data (``freight.store.scratch``): active is what running writers hold,
    reclaimable what killed ones left, which the next writer (or GC) removes."""
    sizes = [(entry.owned, du(entry.path)) for entry in scratch.entries(store.root_path)]
    return Usage("Temporary", len(sizes), sum(1 for owned, _ in sizes if owned), sum(s for _, s in sizes),
                 sum(s for owned, s in sizes if not owned))
