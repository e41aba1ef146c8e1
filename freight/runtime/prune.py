"""Container and volume housekeeping: ``container prune``, the ``volume`` commands, sizes.

Volumes are rows of the ``volumes`` table (``freight.runtime.volumes``);
anonymous ones carry Docker's ``com.docker.volume.anonymous`` label, and only
they are pruned unless ``all`` is asked for, as Docker 23+ does.
"""

from __future__ import annotations

import json
import os

from freight.errors import InvalidArgument, NotFound
from freight.runtime.volumes import ANONYMOUS_LABEL

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any


def tree_size(path: str) -> int:
    """Bytes of regular files below ``path`` (hard links counted once)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def container_size(store: Any, c: Any) -> int:
    """What the container wrote: its overlay upper dir."""
    return tree_size(f"{c.directory(store)}/upper")


def _until(value: str) -> str:
    """``until`` filter: a timestamp, a Unix time or a duration (``10m``, ``1h30m``) -> RFC 3339."""
    import re
    import time

    from freight.runtime.stdio import timestamp

    if re.fullmatch(r"\d+(\.\d+)?", value):
        return timestamp(int(float(value) * 1e9))
    units = {"s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", value)
    if parts and "".join(a + b for a, b in parts) == value:
        seconds = sum(float(n) * units[u] for n, u in parts)
        return timestamp(int((time.time() - seconds) * 1e9))
    if re.fullmatch(r"\d{4}-\d\d-\d\d(T[\d:.]+Z?)?", value):
        return value if "T" in value else value + "T00:00:00Z"
    raise InvalidArgument(f"invalid filter 'until={value}'")


def parse_filters(values: list[str], allowed: tuple[str, ...]) -> dict[str, str]:
    filters = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise InvalidArgument(f"invalid filter '{item}'")
        filters[key] = value
    return filters


def _labels_match(labels: dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)


def prune_containers(store: Any, filters: dict[str, str] | None = None) -> tuple[list[str], int]:
    """Remove every stopped container (older than ``until``); (IDs, bytes reclaimed)."""
    from freight.runtime.containers import list_containers
    from freight.runtime.lifecycle import remove

    filters = filters or {}
    until = _until(filters["until"]) if "until" in filters else None
    removed, reclaimed = [], 0
    for c in list_containers(store, all=True):
        if c.running or (until and c.record["Created"] >= until):
            continue
        if "label" in filters and not _labels_match(c.config.get("Labels") or {}, filters["label"]):
            continue
        size = container_size(store, c)
        try:
            remove(store, c.id)
        except NotFound:
            continue
        removed.append(c.id)
        reclaimed += size
    return removed, reclaimed


# ---------------------------------------------------------------- volumes


def volume_record(store: Any, row: Any) -> dict[str, Any]:
    """``docker volume inspect``'s object."""
    from freight.runtime.volumes import volume_path

    name, created, driver, labels, options = row
    return {"CreatedAt": created, "Driver": driver, "Labels": json.loads(labels) or None,
            "Mountpoint": volume_path(store.root_path, name), "Name": name, "Options": json.loads(options) or None,
            "Scope": "local"}


def list_volumes(store: Any) -> list[dict[str, Any]]:
    rows = store.db.execute("SELECT name, created, driver, labels, options FROM volumes ORDER BY name")
    return [volume_record(store, r) for r in rows.fetchall()]


def get_volume(store: Any, name: str) -> dict[str, Any]:
    row = store.db.execute("SELECT name, created, driver, labels, options FROM volumes WHERE name = ?",
                           (name,)).fetchone()
    if row is None:
        raise NotFound(f"get {name}: no such volume")
    return volume_record(store, row)


def create_volume(store: Any, name: str | None = None, labels: dict[str, str] | None = None,
                  driver: str = "local") -> dict[str, Any]:
    """``docker volume create``: an existing name is returned as it is."""
    from freight.runtime.stdio import timestamp
    from freight.runtime.volumes import check_name, ensure_volume
    from freight.store.db import transaction

    if driver != "local":
        raise NotFound(f"plugin \"{driver}\" not found")
    name = name or os.urandom(32).hex()
    check_name(name)
    with transaction(store.db) as db:
        ensure_volume(db, store.root_path, name, timestamp(), labels=labels)
    return get_volume(store, name)


def remove_volumes(store: Any, name: str, force: bool = False) -> None:
    from freight.runtime.volumes import remove_volume
    from freight.store.db import transaction

    with transaction(store.db) as db:
        remove_volume(db, store.root_path, name, force=force)


def used_volumes(store: Any) -> set[str]:
    """Names of volumes some container (running or not) mounts."""
    used = set()
    for (config,) in store.db.execute("SELECT config FROM containers"):
        used.update(m["Name"] for m in json.loads(config).get("Mounts") or [] if m.get("Type") == "volume")
    return used


def prune_volumes(store: Any, all: bool = False, filters: dict[str, str] | None = None) -> tuple[list[str], int]:
    """Remove unused volumes: anonymous ones, or every one with ``all``; (names, bytes)."""
    from freight.runtime.volumes import volume_path

    filters = filters or {}
    used = used_volumes(store)
    removed, reclaimed = [], 0
    for volume in list_volumes(store):
        labels = volume["Labels"] or {}
        if volume["Name"] in used or not (all or ANONYMOUS_LABEL in labels):
            continue
        if "label" in filters and not _labels_match(labels, filters["label"]):
            continue
        size = tree_size(volume_path(store.root_path, volume["Name"]))
        remove_volumes(store, volume["Name"])
        removed.append(volume["Name"])
        reclaimed += size
    return removed, reclaimed
