"""Removing a container (its row, cgroup, files and anonymous volumes), and finishing
one whose supervisor was killed.

Removal holds the container directory's lock (``containerdir``), so a removal
killed half-way is finished by the next sweep and two removers never race.
A supervisor killed outright (``freight run`` or a monitor, by SIGKILL) cannot
record its container's exit; the container died with it (its parent-death
signal), and the next command that looks it up (``containers``) finishes it
with ``reap``: recorded as exited (137) without its cgroups, as Docker shows a
container whose shim died, or, with ``--rm``, removed.
"""

from __future__ import annotations

import json

from freight.runtime import cgroups, containerdir, exec_records
from freight.runtime.events import container_event
from freight.runtime.mounts import anonymous_volumes
from freight.runtime.records import OWNER, Container, exited, release_dir
from freight.runtime.times import timestamp
from freight.runtime.volumes import remove_volume
from freight.store.db import transaction

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store import Store


def dispose(store: Store, c: Container, cgroup: cgroups.Cgroup | None, remove_row: bool,
            volumes: bool = False) -> None:
    """Remove the container's row (``remove_row``), cgroup, files and (``volumes``, or when it
    never got its row) anonymous volumes, holding its directory's lock."""
    recorded = c.dir_lock is None  # its creator holds the lock until the row is in
    directory = c.directory(store)
    if recorded:
        c.dir_lock = containerdir.lock(directory)
    try:
        if cgroup is None:
            cgroup = cgroups.load(c.id)
        if cgroup is not None:
            cgroup.destroy()
        with transaction(store.db) as db:
            if remove_row:
                db.execute("DELETE FROM containers WHERE id = ?", (c.id,))
                store.refs.drop(OWNER, c.id)
                exec_records.remove_of(db, c.id)
            for name in anonymous_volumes(c.record["Mounts"]) if volumes and recorded else ():
                remove_volume(db, store.root_path, name, force=True)
        if not recorded:
            containerdir.remove_unrecorded_volumes(store, anonymous_volumes(c.record["Mounts"]))
        _release_network(store, c)
        containerdir.remove(directory)
    finally:
        release_dir(c)
    if remove_row and recorded:
        container_event(store, c, "destroy")


def reap(store: Store, c: Container) -> Container | None:
    """Finish ``c``, recorded as running by a supervisor that is gone; None when it is removed."""
    if c.host_config.get("Runtime") not in (None, "freight"):  # an external runtime's: its record, its root
        from freight.runtime.starter import end_process  # rarely needed, and it imports the launcher

        end_process(c.host_config.get("Runtime"), c.id, c.directory(store))
    if c.host_config.get("AutoRemove"):
        dispose(store, c, None, remove_row=True, volumes=True)
        return None
    with transaction(store.db) as db:
        row = db.execute("SELECT state FROM containers WHERE id = ?", (c.id,)).fetchone()
        if row is None:
            return None
        current = json.loads(row[0])
        if any(current.get(k) != c.state.get(k) for k in ("Running", "MonitorPid", "MonitorStartTime")):
            c.state = current  # someone else reaped it (or started it again) meanwhile
            return c
        cgroup = cgroups.load(c.id)
        if cgroup is not None:  # inside the transaction: no ``start`` makes a new one meanwhile
            cgroup.destroy()
        exited(c, 137, timestamp(), Error="container process disappeared")
        db.execute("UPDATE containers SET state = ? WHERE id = ?", (json.dumps(c.state), c.id))
    _release_network(store, c)
    container_event(store, c, "die", exitCode="137")
    return c


def _release_network(store: Store, c: Container) -> None:
    """The leases of a container whose supervisor is gone (its namespace went with it)."""
    if (c.host_config.get("NetworkMode") or "default") in ("host", "none"):
        return
    from freight.runtime.netsandbox import reconcile  # only containers with a network: keeps ps light

    reconcile(store)
