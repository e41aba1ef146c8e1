"""Finding containers: by name or ID, and the list ``ps`` shows.

The library behind ``ps``, ``inspect`` and every verb that names a container
(see ``freight.runtime`` for where each verb is). A container dies with its
supervisor (parent-death signal), so one recorded as running whose supervisor
is gone was left by a killed ``freight run`` or monitor: the lookups here
finish it as its supervisor would have (``removal.reap``). A container killed
before its row was written leaves only its directory, which ``list_containers``
removes (``containerdir``), and the network leases such a container held (``netsandbox``).
"""

from __future__ import annotations

import json

from freight.errors import Conflict, NotFound
from freight.pids import alive
from freight.runtime.containerdir import sweep
from freight.runtime.health import health_suffix
from freight.runtime.ipam import stale
from freight.runtime.records import Container, from_row
from freight.runtime.times import age

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.store import Store


def get(store: Store, ref: str) -> Container:
    """By full ID, by name (with or without ``/``), else by unique ID prefix (Docker's order)."""
    db = store.db
    name = ref.lstrip("/")
    row = db.execute("SELECT * FROM containers WHERE id = ? OR name = ?", (ref, name)).fetchone()
    if row is None and ref and all(c in "0123456789abcdef" for c in ref):
        rows = db.execute("SELECT * FROM containers WHERE id LIKE ?", (ref + "%",)).fetchall()
        if len(rows) > 1:
            raise Conflict(f"Multiple IDs found with provided prefix: {ref}")
        row = rows[0] if rows else None
    c = _refresh(store, from_row(row)) if row is not None else None
    if c is None:
        raise NotFound(f"No such container: {ref}")
    return c


def status_text(state: dict[str, Any]) -> str:
    """The STATUS column of ``docker ps`` (and ``Status`` of the API's container list)."""
    if state.get("Running"):
        return "Up " + age(state["StartedAt"]) + (" (Paused)" if state.get("Paused") else health_suffix(state))
    if state.get("Restarting"):
        return f"Restarting ({state.get('ExitCode', 0)}) {age(state['FinishedAt'])} ago"
    if state.get("Status") == "exited":
        return f"Exited ({state.get('ExitCode', 0)}) {age(state['FinishedAt'])} ago"
    return "Created"


def get_running(store: Store, ref: str) -> Container:
    """The container ``ref``, which must be running (for exec, top)."""
    c = get(store, ref)
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    return c


def list_containers(store: Store, all: bool = False) -> list[Container]:
    """Newest first, as ``docker ps`` lists them; only running ones unless ``all``. Directories
    of containers whose creator was killed before it recorded them are removed on the way."""
    rows = store.db.execute("SELECT * FROM containers ORDER BY created DESC").fetchall()
    states = [json.loads(r["state"]) for r in rows]
    # A record (the container's whole config) is decoded only for a container listed: ``ps``
    # lists those running or restarting (``_refresh`` finishes one whose supervisor is gone).
    found = [_refresh(store, Container(json.loads(r["config"]), state)) for r, state in zip(rows, states)
             if all or state.get("Running") or state.get("Restarting")]
    sweep(store, {r["id"] for r in rows})
    if stale(store.db):  # leases of containers whose supervisor was killed, even before their row
        from freight.runtime.netsandbox import reconcile  # the network tools: only then

        reconcile(store)
    return [c for c in found if c is not None and (all or c.running)]


def _refresh(store: Store, c: Container) -> Container | None:
    """``c``, or None when it is gone: one recorded as running whose supervisor is gone is
    finished here (``removal.reap``)."""
    if (c.running or c.state.get("Restarting")) and not alive(int(c.state.get("MonitorPid") or 0),
                                                              c.state.get("MonitorStartTime")):
        if not c.running:  # killed while it waited to restart the container
            from freight.runtime.restart import give_up

            return give_up(store, c)
        from freight.runtime.removal import reap  # only when a supervisor was killed

        return reap(store, c)
    return c
