"""The metadata database: sqlite in WAL mode, shared by every freight process.

Writers use ``BEGIN IMMEDIATE`` transactions (``with transaction(db):``) so
that concurrent CLI processes serialise on the database lock instead of
failing; readers never block. Each table belongs to one part of freight:
images, tags and snapshots to the store, containers and volumes to the
runtime, build_cache to the builder.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager

from freight.errors import FreightError

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import os
    from collections.abc import Iterator

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,              -- config digest: the image ID
    manifest_digest TEXT NOT NULL,
    created TEXT NOT NULL,            -- the config's "created"
    size INTEGER NOT NULL,            -- unpacked size of all layers
    added TEXT NOT NULL               -- when this store got it
);
CREATE TABLE IF NOT EXISTS tags (
    name TEXT PRIMARY KEY,            -- normalised reference, docker.io/library/busybox:latest
    image_id TEXT NOT NULL REFERENCES images(id)
);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS repo_digests (
    name TEXT NOT NULL,               -- repository@digest of the manifest in a registry
    image_id TEXT NOT NULL REFERENCES images(id),
    PRIMARY KEY (name)
);
CREATE TABLE IF NOT EXISTS snapshots (
    chain_id TEXT PRIMARY KEY,
    parent TEXT,
    diff_id TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    image_id TEXT NOT NULL,
    created TEXT NOT NULL,
    config TEXT NOT NULL,             -- JSON
    state TEXT NOT NULL               -- JSON
);
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    driver TEXT NOT NULL DEFAULT 'local',
    labels TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS build_cache (
    key TEXT PRIMARY KEY,             -- digest of parent state + instruction + inputs
    value TEXT NOT NULL,              -- JSON: what the step produced
    created TEXT NOT NULL,
    last_used TEXT NOT NULL
);
"""


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open the database, creating the schema on first use.

    A database sqlite cannot open (a read-only store, a file that is not a database)
    raises FreightError naming it.
    """
    try:
        db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = 60000")
        db.execute("PRAGMA synchronous = NORMAL")  # WAL: a killed process loses nothing
        if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            _create_schema(db)
    except sqlite3.DatabaseError as err:
        raise FreightError(f"cannot open the store database {path}: {err}") from None
    return db


def _create_schema(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode = WAL")
    with transaction(db):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the database lock up front."""
    if db.in_transaction:
        yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
