"""Exec instances, as Docker's daemon keeps them (``docker exec`` through the API creates
one, starts it, inspects it for its exit code): rows of the store, so they outlive the
process that made them and any process can read them, and removed with their container.

A record is Docker's exec inspect object. The API writes it when the exec is created;
the exec's monitor (``execute.exec_in``) writes ``Running``, ``Pid`` and ``ExitCode``
as its command starts and ends, whoever views it. A monitor killed outright takes its
command with it and records nothing: an exec recorded running whose command is gone
reads as exited 137, as a container whose supervisor was killed does.
"""

from __future__ import annotations

import json

from freight.errors import NotFound
from freight.pids import alive, start_time
from freight.store.db import register_schema, transaction

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

    from freight.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS execs (
    id TEXT PRIMARY KEY,
    container_id TEXT NOT NULL,
    record TEXT NOT NULL,             -- JSON: Docker's exec inspect
    pid_started TEXT                  -- the start time of its command's process (``pids``)
);
CREATE INDEX IF NOT EXISTS execs_of_container ON execs(container_id);
"""
register_schema("exec", 1, SCHEMA)


def add(store: Store, record: dict[str, Any]) -> None:
    """Keep the new exec ``record`` (its ``ID`` and ``ContainerID`` set)."""
    with transaction(store.db) as db:
        db.execute("INSERT INTO execs (id, container_id, record) VALUES (?, ?, ?)",
                   (record["ID"], record["ContainerID"], json.dumps(record)))


def get(store: Store, exec_id: str) -> dict[str, Any]:
    row = store.db.execute("SELECT record, pid_started FROM execs WHERE id = ?", (exec_id,)).fetchone()
    if row is None:
        raise NotFound(f"No such exec instance: {exec_id}")
    record: dict[str, Any] = json.loads(row[0])
    if record["Running"] and not alive(record["Pid"], row[1]):  # its monitor was killed
        record.update(Running=False, ExitCode=137)
    return record


def update(store: Store, exec_id: str, **fields: Any) -> None:
    """Set ``fields`` of the exec's record (gone with its container: nothing to set)."""
    with transaction(store.db) as db:
        row = db.execute("SELECT record FROM execs WHERE id = ?", (exec_id,)).fetchone()
        if row is not None:
            db.execute("UPDATE execs SET record = ? WHERE id = ?", (json.dumps({**json.loads(row[0]), **fields}),
                                                                    exec_id))


def started(store: Store, exec_id: str, pid: int) -> None:
    """The exec's command runs as ``pid``."""
    with transaction(store.db) as db:
        update(store, exec_id, Running=True, Pid=pid)
        db.execute("UPDATE execs SET pid_started = ? WHERE id = ?", (start_time(pid), exec_id))


def ids_of(store: Store, container_id: str) -> list[str]:
    return [row[0] for row in store.db.execute("SELECT id FROM execs WHERE container_id = ? ORDER BY rowid",
                                               (container_id,))]


def remove_of(db: sqlite3.Connection, container_id: str) -> None:
    """Forget the execs of a container being removed (in its removal's transaction)."""
    db.execute("DELETE FROM execs WHERE container_id = ?", (container_id,))
