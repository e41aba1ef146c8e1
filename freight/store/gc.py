"""Mark and sweep over the store's blobs and snapshots.

The roots are the images and whatever an owner holds in the reference table
(``freight.store.refs``): GC knows no other part's tables. Called with the
store lock held exclusively (``Store.gc``), so no other process is half-way
through adding content.
"""

from __future__ import annotations

import json
import os
import sqlite3

from freight.errors import FreightError
from freight.image.digest import chain_ids
from freight.record import Record, field
from freight.store import scratch
from freight.store.blobs import BlobStore
from freight.store.diskusage import du
from freight.store.refs import BLOB, SNAPSHOT, References
from freight.store.snapshots import Snapshots


class GCReport(Record, frozen=False):
    """What a collection removed, and the bytes it freed (as ``du`` counts them:
    ``freight.store.diskusage``)."""

    deleted_snapshots: list[str] = field(default_factory=list)
    deleted_blobs: list[str] = field(default_factory=list)
    reclaimed: int = 0


class LiveSet(Record):
    """The blobs and snapshots (by chain ID) that something still references."""

    blobs: set[str] = field(default_factory=set)
    chains: set[str] = field(default_factory=set)


def live_set(db: sqlite3.Connection, blobs: BlobStore, refs: References) -> LiveSet:
    """Everything images and the owners in ``refs`` still hold (a held image has its row, and so
    is marked with the others: ``rmi`` deletes no held image)."""
    live = LiveSet()
    for (manifest_digest,) in db.execute("SELECT manifest_digest FROM images"):
        _mark_image(blobs, manifest_digest, live)
    live.blobs.update(refs.held(BLOB))
    live.chains.update(refs.held(SNAPSHOT))
    return live


def _mark_image(blobs: BlobStore, manifest_digest: str, live: LiveSet) -> None:
    live.blobs.add(manifest_digest)
    try:
        manifest = json.loads(blobs.read(manifest_digest))
        config_digest = manifest["config"]["digest"]
        config = json.loads(blobs.read(config_digest))
    except (FreightError, ValueError, KeyError):
        return  # a broken image keeps what it has; `system check` reports it
    live.blobs.add(config_digest)
    live.blobs.update(layer["digest"] for layer in manifest.get("layers", []))
    live.chains.update(chain_ids(config.get("rootfs", {}).get("diff_ids", [])))


def collect(root: str, db: sqlite3.Connection, blobs: BlobStore, snapshots: Snapshots,
            refs: References) -> GCReport:
    """Remove what nothing references from the store at ``root``: blobs, snapshots, and the
    temporary files of killed writers and of older versions (``freight.store.scratch``)."""
    report = GCReport()
    live = live_set(db, blobs, refs)
    report.reclaimed += scratch.collect(root)
    for digest in list(blobs.digests()):
        if digest not in live.blobs:
            report.reclaimed += blobs.disk_size(digest)
            blobs.delete(digest)
            report.deleted_blobs.append(digest)
    live_names = {snapshots.name(c) for c in live.chains}
    for (chain_id,) in db.execute("SELECT chain_id FROM snapshots").fetchall():
        if chain_id not in live.chains:
            report.reclaimed += du(os.fspath(snapshots.path(chain_id)))
            snapshots.remove(chain_id)
            report.deleted_snapshots.append(chain_id)
    for name in snapshots.names_on_disk() - live_names:
        report.reclaimed += du(os.fspath(snapshots.dir / name))
        snapshots.remove_name(name)  # left by a crash before its record was written
    return report
