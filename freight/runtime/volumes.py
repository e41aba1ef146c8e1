"""Volumes: named and anonymous, and the ``volume`` commands (create, ls, inspect, rm).

A volume lives in ``<root>/volumes/<name>/_data`` with a row in the ``volumes``
table; anonymous ones carry Docker's ``com.docker.volume.anonymous`` label.
Containers mount them through ``mounts``; ``prune`` removes unused ones.
"""

from __future__ import annotations

import json
import os
import re

from freight.errors import Conflict, InvalidArgument, NotFound
from freight.runtime.fsutil import remove_tree
from freight.runtime.times import timestamp
from freight.store import events
from freight.store.db import transaction

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

    from freight.store import Store

ANONYMOUS_LABEL = "com.docker.volume.anonymous"  # Docker 23+: what volume prune removes by default


def volume_path(root: str, name: str) -> str:
    return f"{root}/volumes/{name}/_data"


def check_name(name: str) -> None:
    if not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$", name):
        raise InvalidArgument(f'"{name}" includes invalid characters for a local volume name, only '
                              f'"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a '
                              f"host directory, use absolute path")


def ensure_volume(db: sqlite3.Connection, root: str, name: str, created: str,
                  labels: dict[str, str] | None = None, options: dict[str, str] | None = None) -> bool:
    """Create the volume unless it exists (call inside a transaction); say if it was new."""
    if db.execute("SELECT 1 FROM volumes WHERE name = ?", (name,)).fetchone():
        return False
    os.makedirs(volume_path(root, name), 0o755, exist_ok=True)
    db.execute("INSERT INTO volumes (name, created, driver, labels, options) VALUES (?, ?, 'local', ?, ?)",
               (name, created, json.dumps(labels or {}), json.dumps(options or {})))
    return True


def remove_volume(db: sqlite3.Connection, root: str, name: str, force: bool = False) -> None:
    """Delete a volume no container uses (call inside a transaction)."""
    if not db.execute("SELECT 1 FROM volumes WHERE name = ?", (name,)).fetchone():
        if force:
            return
        raise NotFound(f"get {name}: no such volume")
    users = volume_users(db, name)
    if users:
        raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
    db.execute("DELETE FROM volumes WHERE name = ?", (name,))
    remove_tree(f"{root}/volumes/{name}")


def volume_users(db: sqlite3.Connection, name: str) -> list[str]:
    users = []
    for cid, config in db.execute("SELECT id, config FROM containers"):
        if any(m.get("Name") == name for m in json.loads(config).get("Mounts") or []):
            users.append(cid)
    return users


def volume_record(store: Store, row: tuple[str, str, str, str, str]) -> dict[str, Any]:
    """``docker volume inspect``'s object."""
    name, created, driver, labels, options = row
    return {"CreatedAt": created, "Driver": driver, "Labels": json.loads(labels) or None,
            "Mountpoint": volume_path(store.root_path, name), "Name": name, "Options": json.loads(options) or None,
            "Scope": "local"}


def list_volumes(store: Store) -> list[dict[str, Any]]:
    rows = store.db.execute("SELECT name, created, driver, labels, options FROM volumes ORDER BY name")
    return [volume_record(store, r) for r in rows.fetchall()]


def get_volume(store: Store, name: str) -> dict[str, Any]:
    row = store.db.execute("SELECT name, created, driver, labels, options FROM volumes WHERE name = ?",
                           (name,)).fetchone()
    if row is None:
        raise NotFound(f"get {name}: no such volume")
    return volume_record(store, row)


def create_volume(store: Store, name: str | None = None, labels: dict[str, str] | None = None,
                  driver: str = "local") -> dict[str, Any]:
    """``docker volume create``: an existing name is returned as it is."""
    if driver != "local":
        raise NotFound(f"plugin \"{driver}\" not found")
    name = name or os.urandom(32).hex()
    check_name(name)
    with transaction(store.db) as db:
        ensure_volume(db, store.root_path, name, timestamp(), labels=labels)
    events.emit(store.root_path, "volume", "create", name, {"driver": "local"})
    return get_volume(store, name)


def remove_volumes(store: Store, name: str, force: bool = False) -> None:
    with transaction(store.db) as db:
        remove_volume(db, store.root_path, name, force=force)
    events.emit(store.root_path, "volume", "destroy", name, {"driver": "local"})


def used_volumes(store: Store) -> set[str]:
    """Names of volumes some container (running or not) mounts."""
    used: set[str] = set()
    for (config,) in store.db.execute("SELECT config FROM containers"):
        used.update(m["Name"] for m in json.loads(config).get("Mounts") or [] if m.get("Type") == "volume")
    return used


def select_volumes(store: Store, volumes: list[dict[str, Any]], filters: dict[str, str]) -> list[dict[str, Any]]:
    """``docker volume ls --filter``: dangling, name (a substring), driver and label (``key[=value]``)."""
    if "dangling" in filters:
        used = used_volumes(store)
        dangling = filters["dangling"].lower() in ("true", "1")
        volumes = [v for v in volumes if (v["Name"] not in used) == dangling]
    if "name" in filters:
        volumes = [v for v in volumes if filters["name"] in v["Name"]]
    if "driver" in filters:
        volumes = [v for v in volumes if v["Driver"] == filters["driver"]]
    if "label" in filters:
        key, sep, value = filters["label"].partition("=")
        volumes = [v for v in volumes
                   if key in (v["Labels"] or {}) and (not sep or v["Labels"][key] == value)]
    return volumes
