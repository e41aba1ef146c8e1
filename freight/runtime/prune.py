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
from freight.store.prune import has_label, prune_filters_take

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


def until_timestamp(value: str) -> str:
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
    return {key: found[-1] for key, found in parse_filter_lists(values, allowed).items()}


def parse_filter_lists(values: list[str], allowed: tuple[str, ...]) -> dict[str, list[str]]:
    """``KEY=VALUE`` filters (``label!=...`` is key ``label!``), each key's values in order;
    ``until`` given as an RFC 3339 time (from a time or a duration)."""
    filters: dict[str, list[str]] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise InvalidArgument(f"invalid filter '{item}'")
        filters.setdefault(key, []).append(until_timestamp(value) if key == "until" else value)
    return filters


def prune_containers(store: Store, filters: dict[str, list[str]] | None = None) -> tuple[list[str], int]:
    """Remove every stopped container that ``filters`` take (``parse_filter_lists``); (IDs, bytes reclaimed)."""
    filters = filters or {}
    removed, reclaimed = [], 0
    for c in list_containers(store, all=True):
        if c.running or not prune_filters_take(c.record["Created"], c.config.get("Labels") or {}, filters):
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
        if "label" in filters and not has_label(labels, filters["label"]):
            continue
        size = volume_size(store, volume["Name"])
        remove_volumes(store, volume["Name"])
        removed.append(volume["Name"])
        reclaimed += size
    return removed, reclaimed
