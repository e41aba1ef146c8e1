"""``docker ps --filter``: which containers a set of filters selects.

Shared by the CLI and the API service (``GET /containers/json?filters=``).
Filters of the same key are ORed, different keys ANDed, as Docker does.
"""

from __future__ import annotations

import re

from freight.errors import InvalidArgument
from freight.runtime.health import STATUSES as HEALTH_STATUSES
from freight.runtime.health import status as health_status

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable

    from freight.runtime.records import Container

    Resolve = Callable[[str], Container]

STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def parse_filters(specs: list[str]) -> dict[str, list[str]]:
    """``KEY=VALUE`` strings from ``--filter`` into a key → values map."""
    filters: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep or key not in _MATCHERS:
            raise InvalidArgument(f"invalid filter '{spec}'" if sep else
                                  "bad format of filter (expected name=value)")
        if key == "status" and value not in STATUSES:
            raise InvalidArgument(f"invalid filter 'status={value}'")
        if key == "health" and value not in HEALTH_STATUSES:
            raise InvalidArgument(f"Unrecognised filter value for health: {value}")
        if key == "exited" and not value.lstrip("-").isdigit():
            raise InvalidArgument(f"invalid filter 'exited={value}'")
        filters.setdefault(key, []).append(value)
    return filters


def shows_stopped(filters: dict[str, list[str]]) -> bool:
    """A status or exited filter lists stopped containers without ``-a``, as Docker does."""
    return "exited" in filters or any(v != "running" for v in filters.get("status", []))


def select(containers: list[Container], filters: dict[str, list[str]],
           resolve: Resolve) -> list[Container]:
    """The containers every filter key accepts (one of its values, or for ``label`` all of
    them, as Docker's); ``resolve`` finds a container by name or ID."""
    return [c for c in containers
            if all((all if key == "label" else any)(_MATCHERS[key](c, value, resolve) for value in values)
                   for key, values in filters.items())]


def _label(c: Container, value: str, _resolve: Resolve) -> bool:
    key, sep, want = value.partition("=")
    labels = c.config.get("Labels") or {}
    return key in labels and (not sep or labels[key] == want)


def _ancestor(c: Container, value: str, _resolve: Resolve) -> bool:
    image = c.config.get("Image", "")
    if value in (image, c.image_id, c.image_id.removeprefix("sha256:")):
        return True
    if c.image_id.removeprefix("sha256:").startswith(value.removeprefix("sha256:")) and len(value) >= 4:
        return True
    return ":" not in value.rsplit("/", 1)[-1] and image == f"{value}:latest"


def _created_relative(before: bool) -> Callable[[Container, str, Resolve], bool]:
    def match(c: Container, value: str, resolve: Resolve) -> bool:
        pivot: str = resolve(value).record["Created"]
        created: str = c.record["Created"]
        return created < pivot if before else created > pivot
    return match


def _port(key: str) -> Callable[[Container, str, Resolve], bool]:
    def match(c: Container, value: str, _resolve: Resolve) -> bool:
        wanted = value if "/" in value else f"{value}/tcp"
        if key == "expose":
            return wanted in (c.config.get("ExposedPorts") or {})
        return wanted in (c.host_config.get("PortBindings") or {})
    return match


def _volume(c: Container, value: str, _resolve: Resolve) -> bool:
    return any(value in (m.get("Name"), m.get("Source"), m.get("Destination"))
               for m in c.record.get("Mounts") or [])


_MATCHERS: dict[str, Callable[[Container, str, Resolve], bool]] = {
    "id": lambda c, v, _: c.id.startswith(v),
    "name": lambda c, v, _: re.search(v, c.name) is not None,
    "label": _label,
    "status": lambda c, v, _: c.state.get("Status") == v,
    "exited": lambda c, v, _: c.state.get("Status") == "exited" and c.state.get("ExitCode") == int(v),
    "ancestor": _ancestor,
    "before": _created_relative(before=True),
    "since": _created_relative(before=False),
    "volume": _volume,
    "publish": _port("publish"),
    "expose": _port("expose"),
    "health": lambda c, v, _: health_status(c.state) == v,
}
