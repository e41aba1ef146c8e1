"""The reference table: the store's own, filled by its owners, and by the migration of a
database written before it (``data/store-v1.sql``)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from testlib import REPO

from freight.errors import Conflict
from freight.store import Store, open_store
from freight.store.refs import BLOB, IMAGE, SNAPSHOT

V1 = Path(__file__).parent / "data" / "store-v1.sql"
USED = "sha256:" + "1" * 64
CACHED_BLOB = "sha256:" + "9" * 64
CACHED_SNAPSHOT = "sha256:" + "8" * 64


def _v1_store(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    db = sqlite3.connect(root / "metadata.db")
    db.executescript(V1.read_text())
    db.close()
    return root


def test_a_version_1_store_is_migrated_on_first_open(tmp_path: Path) -> None:
    store = open_store(_v1_store(tmp_path))
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert store.refs.holders(IMAGE, USED) == [("container", "e" * 64)]
    assert store.refs.held_by("build-cache", "sha256:" + "f" * 64) == {(BLOB, CACHED_BLOB),
                                                                         (SNAPSHOT, CACHED_SNAPSHOT)}
    assert store.refs.held_by("build-cache", "sha256:" + "6" * 64) == set()  # an empty step holds nothing
    with pytest.raises(Conflict, match="container eeeeeeeeeeee is using its referenced image"):
        store.images.remove("used:1")
    assert store.images.remove("spare:1") == [("Untagged", "spare:1"), ("Deleted", "sha256:" + "2" * 64)]
    # the old rows stay readable by their owners, whose schema (the same tables) is a no-op on them
    from freight.builder import cache
    from freight.runtime.containers import list_containers
    assert [c.id for c in list_containers(store, all=True)] == ["e" * 64]
    assert len(cache.keys(store)) == 2
    reopened = open_store(store.root)
    assert len(reopened.refs.held(BLOB)) == 1


def test_owners_replace_and_drop_what_they_hold(store: Store) -> None:
    store.refs.replace("test", "a", [(BLOB, "sha256:b1"), (SNAPSHOT, "sha256:s1")])
    store.refs.add("test", "b", [(BLOB, "sha256:b1")])
    assert store.refs.holders(BLOB, "sha256:b1") == [("test", "a"), ("test", "b")]
    store.refs.replace("test", "a", [(BLOB, "sha256:b2")])
    assert store.refs.held(BLOB) == {"sha256:b1", "sha256:b2"}
    assert store.refs.held(SNAPSHOT) == set()
    store.refs.drop("test", "b")
    assert store.refs.held(BLOB, owner_kind="test") == {"sha256:b2"}


_FOREIGN_SQL = re.compile(r"\b(FROM|INTO|UPDATE|JOIN|TABLE)\s+(IF NOT EXISTS\s+)?(containers|volumes|build_cache)\b")


def test_the_store_reads_no_table_of_the_runtime_or_the_builder() -> None:
    """Only the migration of version 1 databases names them (as version 1 had them)."""
    found = [str(path.relative_to(REPO)) for path in (REPO / "freight" / "store").glob("*.py")
             if path.name != "migrations.py" and _FOREIGN_SQL.search(path.read_text())]
    assert found == []
    assert _FOREIGN_SQL.search((REPO / "freight" / "store" / "migrations.py").read_text())
    assert not re.search(r'\.get\("(blobs|snapshots)"',  # the build cache's JSON
                         "".join(p.read_text() for p in (REPO / "freight" / "store").glob("*.py")))
