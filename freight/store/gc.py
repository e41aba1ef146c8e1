"""Mark and sweep over the store, and the consistency check built on the same walk.

Called with the store lock held exclusively (``Store.gc``), so no other
process is half-way through adding content.
"""

from __future__ import annotations

import json
import os

from freight.errors import FreightError
from freight.image.digest import chain_ids
from freight.store.scratch import collect as collect_temporaries

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store.store import Store


class GCReport:
    def __init__(self) -> None:
        self.deleted_snapshots: list[str] = []
        self.deleted_blobs: list[str] = []
        self.reclaimed = 0


class LiveSet:
    def __init__(self) -> None:
        self.blobs: set[str] = set()
        self.chains: set[str] = set()


def live_set(store: Store) -> LiveSet:
    """Everything images and the build cache still reference."""
    live = LiveSet()
    for (manifest_digest,) in store.db.execute("SELECT manifest_digest FROM images"):
        _mark_image(store, manifest_digest, live)
    for (value,) in store.db.execute("SELECT value FROM build_cache"):
        entry = json.loads(value)
        live.blobs.update(entry.get("blobs", []))
        live.chains.update(entry.get("snapshots", []))
    return live


def _mark_image(store: Store, manifest_digest: str, live: LiveSet) -> None:
    live.blobs.add(manifest_digest)
    try:
        manifest = json.loads(store.blobs.read(manifest_digest))
        config_digest = manifest["config"]["digest"]
        config = json.loads(store.blobs.read(config_digest))
    except (FreightError, ValueError, KeyError):
        return  # a broken image keeps what it has; `system check` reports it
    live.blobs.add(config_digest)
    live.blobs.update(layer["digest"] for layer in manifest.get("layers", []))
    live.chains.update(chain_ids(config.get("rootfs", {}).get("diff_ids", [])))


def collect(store: Store) -> GCReport:
    report = GCReport()
    live = live_set(store)
    collect_temporaries(os.fspath(store.root))
    for digest in list(store.blobs.digests()):
        if digest not in live.blobs:
            report.reclaimed += store.blobs.disk_size(digest)
            store.blobs.delete(digest)
            report.deleted_blobs.append(digest)
    live_names = {store.snapshots.name(c) for c in live.chains}
    for (chain_id,) in store.db.execute("SELECT chain_id FROM snapshots").fetchall():
        if chain_id not in live.chains:
            report.reclaimed += store.snapshots.size(chain_id)
            store.snapshots.remove(chain_id)
            report.deleted_snapshots.append(chain_id)
    for name in store.snapshots.names_on_disk() - live_names:
        store.snapshots.remove_name(name)  # left by a crash before its record was written
    return report


def check(store: Store) -> list[str]:
    """Verify every blob's digest and every reference; return the problems found."""
    problems = [f"blob {d} does not match its digest"
                for d in store.blobs.digests() if not store.blobs.verify(d)]
    for row in store.db.execute("SELECT id, manifest_digest FROM images").fetchall():
        problems += _check_image(store, row["id"], row["manifest_digest"])
    for name, image_id in store.db.execute(
            "SELECT name, image_id FROM tags WHERE image_id NOT IN (SELECT id FROM images)"):
        problems.append(f"tag {name} points to missing image {image_id}")
    return problems


def _check_image(store: Store, image_id: str, manifest_digest: str) -> list[str]:
    if not store.blobs.has(manifest_digest):
        return [f"image {image_id}: manifest {manifest_digest} is missing"]
    manifest = json.loads(store.blobs.read(manifest_digest))
    wanted = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest.get("layers", [])]
    problems = [f"image {image_id}: blob {d} is missing" for d in wanted if not store.blobs.has(d)]
    if manifest["config"]["digest"] != image_id:
        problems.append(f"image {image_id}: manifest names config {manifest['config']['digest']}")
    return problems
