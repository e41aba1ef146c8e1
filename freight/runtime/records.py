"""A container's record: its row in the runtime's ``containers`` table, read and written.

The runtime owns the ``containers`` and ``volumes`` tables (``SCHEMA``, registered
with the store's database when this module is imported); what a container holds
in the store (its image and the image's snapshots) it says in the store's
reference table (``OWNER`` rows: ``freight.store.refs``).

``config`` holds the inspect-shaped record (``Config``, ``HostConfig``,
``Mounts``, ``Path``, ``Args``, ...), ``state`` Docker's ``State`` plus the
private ``StartTime``, ``MonitorPid`` and ``MonitorStartTime`` (``PRIVATE_STATE``),
which tell a live process from a reused PID. Its files are in
``<root>/containers/<id>/`` (``containerdir``).

A container's row is written in one transaction when it is created (``create.insert``;
for ``run``: once it started) and in one when it exits (``save_state``).
"""

from __future__ import annotations

import json
import os

from freight.record import Record
from freight.store.db import register_schema, transaction

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

    from freight.store import Store
    from freight.store.images import Image

OWNER = "container"  # owner kind in the store's reference table
SCHEMA = """
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
"""
register_schema("runtime", 1, SCHEMA)

ZERO_TIME = "0001-01-01T00:00:00Z"
PRIVATE_STATE = ("StartTime", "MonitorPid", "MonitorStartTime")  # freight's own, not Docker's
HIDDEN_STATE = (*PRIVATE_STATE, "ManualStop")  # not in inspect (``restart``)
# Keys that processes other than the monitor write (``restart.manual_stop``, the health
# checker): the monitor's ``save_state`` keeps what the row holds for them.
SHARED_STATE = ("ManualStop", "Health")


class Container(Record, frozen=False):
    """One container row; ``record`` is the inspect-shaped config, ``state`` Docker's State."""

    record: dict[str, Any]
    state: dict[str, Any]
    image: Image | None = None  # the store's Image when already resolved (``run``), else None
    dir_lock: int | None = None  # the creator's lock until the row is in (``containerdir``)

    @property
    def id(self) -> str:
        return str(self.record["Id"])

    @property
    def name(self) -> str:
        return str(self.record["Name"]).lstrip("/")

    @property
    def image_id(self) -> str:
        return str(self.record["Image"])

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self.record["Config"]
        return config

    @property
    def host_config(self) -> dict[str, Any]:
        host: dict[str, Any] = self.record["HostConfig"]
        return host

    @property
    def running(self) -> bool:
        return bool(self.state.get("Running"))

    @property
    def pid(self) -> int:
        return int(self.state.get("Pid") or 0)

    def directory(self, store: Store) -> str:
        return f"{store.root_path}/containers/{self.id}"


def new_state(status: str = "created") -> dict[str, Any]:
    return {"Status": status, "Running": False, "Paused": False, "Restarting": False,
            "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME}


def exited(c: Container, code: int, finished_at: str, **more: Any) -> None:
    """Set ``c``'s state to exited with ``code``, without the private keys of a running one."""
    c.state.update(Status="exited", Running=False, Pid=0, ExitCode=code, FinishedAt=finished_at, **more)
    for key in PRIVATE_STATE:
        c.state.pop(key, None)


def from_row(row: sqlite3.Row) -> Container:
    return Container(json.loads(row["config"]), json.loads(row["state"]))


def release_dir(c: Container) -> None:
    """Let go of the lock its creator holds on ``c``'s directory (``containerdir``)."""
    if c.dir_lock is not None:
        os.close(c.dir_lock)
        c.dir_lock = None


def save_state(store: Store, c: Container, record: bool = False) -> None:
    """Write the state (and with ``record``, the config record too) in one transaction; the
    row's ``SHARED_STATE`` keys are kept (and read into ``c.state``)."""
    with transaction(store.db) as db:
        row = db.execute("SELECT state FROM containers WHERE id = ?", (c.id,)).fetchone()
        if row is not None:
            held = json.loads(row[0])
            for key in SHARED_STATE:
                c.state.pop(key, None)
                if key in held:
                    c.state[key] = held[key]
        if record:
            db.execute("UPDATE containers SET state = ?, config = ? WHERE id = ?",
                       (json.dumps(c.state), json.dumps(c.record), c.id))
        else:
            db.execute("UPDATE containers SET state = ? WHERE id = ?", (json.dumps(c.state), c.id))
