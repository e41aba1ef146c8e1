"""The build cache: one row per step result in the builder's ``build_cache`` table.

A key is the digest of everything that determines a step's result: the
parent state (config and layer chain), the instruction after variable
expansion with only the ARGs it uses, and for COPY/ADD a checksum of the
sources' names, content and metadata (never mtimes). The value is JSON:
``{"diff_id", "blob", "size", "media_type", "created", "blobs": [...],
"snapshots": [...]}`` (or ``{"empty": true, "created"}`` for a step that
changed nothing). The builder owns the table (``SCHEMA``, registered with the
store's database when this module is imported); an entry holds its ``blobs`` and
``snapshots`` in the store's reference table (``OWNER`` rows:
``freight.store.refs``), which is what store GC and ``system df`` read.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

from freight.image.canonical import canonical_json, rfc3339
from freight.store.db import register_schema, transaction
from freight.store.diskusage import du
from freight.store.refs import BLOB, SNAPSHOT

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.store.store import Store

OWNER = "build-cache"  # owner kind in the store's reference table
SCHEMA = """
CREATE TABLE IF NOT EXISTS build_cache (
    key TEXT PRIMARY KEY,             -- digest of parent state + instruction + inputs
    value TEXT NOT NULL,              -- JSON: what the step produced
    created TEXT NOT NULL,
    last_used TEXT NOT NULL
);
"""
register_schema("builder", 1, SCHEMA)

# One lock for every use of the store's database connection from the builder's
# threads (sqlite3 connections are shared, transactions must not interleave).
DB_LOCK = threading.RLock()
_LOCK = DB_LOCK


def now_rfc3339() -> str:
    return rfc3339(time.time())


def cache_key(parts: dict[str, Any]) -> str:
    """The digest of ``parts`` as canonical JSON; a file name that is not UTF-8 (held as
    ``os.listdir`` gives it, with surrogate escapes) counts as its own bytes."""
    return "sha256:" + hashlib.sha256(canonical_json(parts, errors="surrogateescape")).hexdigest()


def lookup(store: Store, key: str) -> dict[str, Any] | None:
    with _LOCK:
        row = store.db.execute("SELECT value FROM build_cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        with transaction(store.db):
            store.db.execute("UPDATE build_cache SET last_used = ? WHERE key = ?", (now_rfc3339(), key))
    value: dict[str, Any] = json.loads(row[0])
    return value


def record(store: Store, key: str, value: dict[str, Any]) -> None:
    now = now_rfc3339()
    with _LOCK, transaction(store.db):
        store.db.execute(
            "INSERT OR REPLACE INTO build_cache (key, value, created, last_used) VALUES (?,?,?,?)",
            (key, json.dumps(value, sort_keys=True), now, now))
        store.refs.replace(OWNER, key, [(BLOB, b) for b in value.get("blobs", [])]
                           + [(SNAPSHOT, s) for s in value.get("snapshots", [])])


def keys(store: Store) -> set[str]:
    """The keys of every entry."""
    with _LOCK:
        return {key for (key,) in store.db.execute("SELECT key FROM build_cache")}


def cache_mounts_dir(store: Store) -> Path:
    return store.root / "buildcache-mounts"


def prune_cache(store: Store, all: bool = False, collect: bool = True, until: str = "",
                keep_storage: int = 0) -> int:
    """Remove build cache entries and free what only they kept; return the bytes reclaimed.

    Without ``all`` only entries whose layer no image uses are removed
    (``docker builder prune``); with it every entry and the ``RUN
    --mount=type=cache`` directories too (``-a``). With ``collect`` it then
    runs ``store.gc()`` (which takes the store lock exclusively: do not call
    it so while holding that lock) and counts what GC freed; without, the
    caller's own GC frees the blobs and snapshots. ``until`` (RFC 3339) spares entries used
    since; ``keep_storage`` spares the most recently used entries whose layers fit in it.
    """
    used: set[str] = set()
    for image in store.images.all():
        try:
            used.update(layer["digest"] for layer in image.layers)
        except Exception:  # a broken image keeps nothing here; GC handles it
            continue
    rows = store.db.execute("SELECT key, value, last_used FROM build_cache ORDER BY last_used DESC").fetchall()
    doomed = [key for key, value, last_used in _beyond(rows, keep_storage)
              if (all or not set(json.loads(value).get("blobs", [])) & used) and (not until or last_used < until)]
    with _LOCK, transaction(store.db):
        store.db.executemany("DELETE FROM build_cache WHERE key = ?", [(k,) for k in doomed])
        for key in doomed:
            store.refs.drop(OWNER, key)
    reclaimed = 0
    mounts = cache_mounts_dir(store)
    if all and mounts.exists():
        import shutil  # -a only: a build, which imports this module, does without shutil

        reclaimed += du(os.fspath(mounts))
        shutil.rmtree(mounts, ignore_errors=True)
    if not collect:
        return reclaimed
    report = store.gc()
    return reclaimed + (report.reclaimed if report else 0)


def _beyond(rows: list[Any], keep_storage: int) -> list[Any]:
    """The rows (newest first) after those whose layers, added up, fit in ``keep_storage`` bytes."""
    if keep_storage <= 0:
        return rows
    kept = 0
    for index, row in enumerate(rows):
        kept += int(json.loads(row[1]).get("size") or 0)
        if kept > keep_storage:
            return rows[index:]
    return []
