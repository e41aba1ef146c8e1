"""``container prune`` and ``volume prune``, and the sizes they (and ``system df``) report.

Only anonymous volumes are pruned unless ``all`` is asked for, as Docker 23+ does.
"""

from __future__ import annotations

import re
import time

from freight.errors import InvalidArgument, NotFound
from freight.runtime.containers import list_containers
from freight.runtime.lifecycle import remove
from freight.runtime.records import Container
from freight.runtime.times import timestamp
from freight.runtime.volumes import ANONYMOUS_LABEL, list_volumes, remove_volumes, used_volumes
from freight.store.diskusage import du

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store import Store


def container_size(store: Store, c: Container) -> int:
    """The bytes removing the container frees: its directory (what it wrote, its log, its
    hosts files), as ``du`` counts them."""
    return du(c.directory(store))


def volume_size(store: Store, name: str) -> int:
    """The bytes removing the volume frees: its directory, as ``du`` counts them."""
    return du(f"{store.root_path}/volumes/{name}")


def _until(value: str) -> str:
    """``until`` filter: a timestamp, a Unix time or a duration (``10m``, ``1h30m``) -> RFC 3339."""
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


def prune_containers(store: Store, filters: dict[str, str] | None = None) -> tuple[list[str], int]:
    """Remove every stopped container (older than ``until``); (IDs, bytes reclaimed)."""
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


def prune_volumes(store: Store, all: bool = False, filters: dict[str, str] | None = None) -> tuple[list[str], int]:
    """Remove unused volumes: anonymous ones, or every one with ``all``; (names, bytes)."""
    filters = filters or {}
    used = used_volumes(store)
    removed, reclaimed = [], 0
    for volume in list_volumes(store):
        labels = volume["Labels"] or {}
        if volume["Name"] in used or not (all or ANONYMOUS_LABEL in labels):
            continue
        if "label" in filters and not _labels_match(labels, filters["label"]):
            continue
        size = volume_size(store, volume["Name"])
        remove_volumes(store, volume["Name"])
        removed.append(volume["Name"])
        reclaimed += size
    return removed, reclaimed
