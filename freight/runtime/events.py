"""Containers' events for the store's event log (``freight.store.events``), with the
attributes Docker gives them: the image, the name and the container's labels; and the
log read as ``docker events`` reads the daemon's (``freight events`` and the API's
``/events`` both watch it here)."""

from __future__ import annotations

import time

from freight.runtime.records import Container
from freight.runtime.times import parse_time
from freight.store import events

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from freight.store import Store


def container_event(store: Store, c: Container, action: str, **extra: str) -> None:
    """Log ``action`` of ``c`` (``extra``: more attributes, e.g. ``exitCode``, ``signal``)."""
    attributes = {**(c.config.get("Labels") or {}), "image": str(c.config.get("Image", "")),
                  "name": c.name, **extra}
    events.emit(store.root_path, "container", action, c.id, attributes)


def _nanoseconds(text: str | None, now: float) -> int | None:
    return None if not text else int(parse_time(text, now) * 1_000_000_000)


def watch(store: Store, since: str | None, until: str | None, filters: Mapping[str, list[str]],
          stopped: Callable[[], bool] | None = None) -> Iterator[dict[str, object]]:
    """The events that match ``filters`` from ``since``, then each new one until ``until``
    (Docker's time forms: Unix seconds, RFC 3339, a duration before now) or ``stopped()``."""
    now = time.time()  # the times are read here, so that a bad one fails before any event
    since_ns, until_ns = _nanoseconds(since, now) or 0, _nanoseconds(until, now)
    found = events.follow(store.root_path, since_ns, until_ns, stopped=stopped)
    return (e for e in found if events.matches(e, filters))
