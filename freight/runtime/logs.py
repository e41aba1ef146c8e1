"""``docker logs``: a container's json-file log read back, its tail, a time window, and following.

The log is written by the container's supervisor (``stdio.JsonLog``), one
record per line; ``records`` yields them as dicts, what the CLI prints and
the API frames alike.
"""

from __future__ import annotations

import json
import time

from freight.errors import NotFound
from freight.runtime.containers import get
from freight.runtime.times import record_time

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from freight.runtime.records import Container
    from freight.store import Store

_POLL = 0.1


def records(store: Store, c: Container, tail: int | None = None, since: float = 0.0,
            until: float = float("inf"), follow: bool = False,
            stopped: Callable[[], bool] | None = None) -> Iterator[dict[str, Any]]:
    """The log's records (the last ``tail`` when given) within [since, until); with ``follow``,
    then those written until the container stops (or ``stopped`` says to)."""
    path = c.record["LogPath"]
    lines, offset = _complete_lines(path, 0)
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    yield from _within(lines, since, until)
    while follow and not (stopped is not None and stopped()):
        fresh, offset = _complete_lines(path, offset)
        yield from _within(fresh, since, until)
        if not fresh and not _running(store, c.id):
            fresh, offset = _complete_lines(path, offset)  # what it wrote as it exited
            yield from _within(fresh, since, until)
            return
        time.sleep(_POLL)


def _running(store: Store, cid: str) -> bool:
    try:
        return get(store, cid).running
    except NotFound:  # removed (--rm)
        return False


def _complete_lines(path: str, offset: int) -> tuple[list[bytes], int]:
    """The complete lines from ``offset``, and the offset after them."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    return data[:end].splitlines(), offset + end


def _within(lines: list[bytes], since: float, until: float) -> Iterator[dict[str, Any]]:
    for line in lines:
        record: dict[str, Any] = json.loads(line)
        if (since or until != float("inf")) and not since <= record_time(record["time"]) < until:
            continue
        yield record
