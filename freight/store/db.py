"""The metadata database: sqlite in WAL mode, shared by every freight process.

Writers use ``BEGIN IMMEDIATE`` transactions (``with transaction(db):``) so
that concurrent CLI processes serialise on the database lock instead of
failing; readers never block. The store creates its own tables (images, tags,
repo digests, snapshots, and the reference table ``refs`` through which the
others say what they hold: ``freight.store.refs``). Every other part of
freight that keeps rows here owns its tables' schema: it registers the
statements with ``register_schema`` when its module is imported, and each
database opened (before or after) gets them once, by owner and version, so the
store knows no table but its own.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager

from freight.errors import FreightError
from freight.store.migrations import migrate

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import os
    from collections.abc import Iterator

SCHEMA_VERSION = 2

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
CREATE TABLE IF NOT EXISTS refs (
    owner_kind TEXT NOT NULL,         -- who holds: "container", "build-cache", ...
    owner_id TEXT NOT NULL,
    kind TEXT NOT NULL,               -- what is held: "image", "blob" or "snapshot"
    key TEXT NOT NULL,                -- image ID, blob digest or chain ID
    PRIMARY KEY (owner_kind, owner_id, kind, key)
);
CREATE INDEX IF NOT EXISTS refs_held ON refs(kind, key);
CREATE TABLE IF NOT EXISTS schemas (
    owner TEXT PRIMARY KEY,           -- the part of freight whose tables these are
    version INTEGER NOT NULL
);
"""


class Schema:
    """The tables a part of freight above the store keeps in the database."""

    __slots__ = ("owner", "version", "statements")

    def __init__(self, owner: str, version: int, statements: str) -> None:
        self.owner = owner
        self.version = version
        self.statements = statements


_REGISTERED: dict[str, Schema] = {}
_OPENED: set[str] = set()  # databases opened by this process: a later registration reaches them


def register_schema(owner: str, version: int, statements: str) -> None:
    """Make ``owner``'s tables (``CREATE ... IF NOT EXISTS`` statements) in every database this
    process opens, and in those it opened already."""
    _REGISTERED[owner] = Schema(owner, version, statements)
    for path in sorted(_OPENED):
        connect(path).close()


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open the database, creating (or migrating) the schema on first use.

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
        if _REGISTERED:
            _apply_registered(db)
    except sqlite3.DatabaseError as err:
        raise FreightError(f"cannot open the store database {path}: {err}") from None
    _OPENED.add(str(path))
    return db


def _create_schema(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode = WAL")
    with transaction(db):
        found = db.execute("PRAGMA user_version").fetchone()[0]
        if found == SCHEMA_VERSION:
            return  # another process was first
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        migrate(db, found)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _apply_registered(db: sqlite3.Connection) -> None:
    have = dict(db.execute("SELECT owner, version FROM schemas").fetchall())
    for schema in list(_REGISTERED.values()):
        if have.get(schema.owner, 0) >= schema.version:
            continue
        with transaction(db):
            for statement in schema.statements.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT OR REPLACE INTO schemas (owner, version) VALUES (?, ?)",
                       (schema.owner, schema.version))


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
