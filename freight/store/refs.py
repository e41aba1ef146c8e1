"""The reference table: what each owner outside the store holds in it.

As containerd's garbage collector follows ``gc.ref`` labels and leases, the
store's GC, ``rmi``'s in-use check and ``system df`` follow ``refs`` rows,
each an owner (a kind such as ``container`` or ``build-cache``, and an ID)
holding an image, a blob or a snapshot. The runtime and the builder write
their owners' rows in the same transaction as their own, so the store never
needs to know their tables.
"""

from __future__ import annotations

from freight.store.db import transaction

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable

IMAGE = "image"  # key: an image ID; the image is not deleted while held
BLOB = "blob"  # key: a blob digest
SNAPSHOT = "snapshot"  # key: a snapshot's chain ID

Held = tuple[str, str]  # (kind, key)


class References:
    """Reads and writes ``refs`` on the store's connection (writes join the caller's transaction)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def replace(self, owner_kind: str, owner_id: str, held: Iterable[Held]) -> None:
        """Make ``held`` all that the owner holds."""
        with transaction(self._db):
            self.drop(owner_kind, owner_id)
            self.add(owner_kind, owner_id, held)

    def add(self, owner_kind: str, owner_id: str, held: Iterable[Held]) -> None:
        with transaction(self._db):
            self._db.executemany(
                "INSERT OR IGNORE INTO refs (owner_kind, owner_id, kind, key) VALUES (?, ?, ?, ?)",
                [(owner_kind, owner_id, kind, key) for kind, key in held])

    def drop(self, owner_kind: str, owner_id: str) -> None:
        """The owner holds nothing any more."""
        with transaction(self._db):
            self._db.execute("DELETE FROM refs WHERE owner_kind = ? AND owner_id = ?", (owner_kind, owner_id))

    def holders(self, kind: str, key: str) -> list[tuple[str, str]]:
        """The (owner kind, owner ID) of everyone holding ``key``, in a stable order."""
        rows = self._db.execute("SELECT owner_kind, owner_id FROM refs WHERE kind = ? AND key = ?"
                                " ORDER BY owner_kind, owner_id", (kind, key))
        return [(r[0], r[1]) for r in rows]

    def held(self, kind: str, owner_kind: str | None = None) -> set[str]:
        """Every key of ``kind`` that someone (of ``owner_kind``) holds."""
        if owner_kind is None:
            rows = self._db.execute("SELECT DISTINCT key FROM refs WHERE kind = ?", (kind,))
        else:
            rows = self._db.execute("SELECT DISTINCT key FROM refs WHERE kind = ? AND owner_kind = ?",
                                    (kind, owner_kind))
        return {r[0] for r in rows}

    def held_by(self, owner_kind: str, owner_id: str) -> set[Held]:
        rows = self._db.execute("SELECT kind, key FROM refs WHERE owner_kind = ? AND owner_id = ?",
                                (owner_kind, owner_id))
        return {(r[0], r[1]) for r in rows}
