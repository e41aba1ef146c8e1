"""Whole-engine maintenance: ``system prune`` and ``system df``.

This sits above the store, runtime and builder and combines them, so the CLI
and the API service offer the same behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from freight.store import Store
from freight.store.prune import prune_images


@dataclass
class SystemPruneReport:
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)
    build_cache: list[str] = field(default_factory=list)
    reclaimed: int = 0


@dataclass
class Usage:
    kind: str
    total: int
    active: int
    size: int
    reclaimable: int


def prune_system(store: Store, all_unused: bool = False, volumes: bool = False) -> SystemPruneReport:
    report = SystemPruneReport()
    images = prune_images(store, all_unused)
    report.images = images.images
    report.reclaimed += images.reclaimed
    return report


def disk_usage(store: Store) -> list[Usage]:
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
    return [Usage("Images", len(images), sum(1 for i in images if i.id in used), size, size - active)]
