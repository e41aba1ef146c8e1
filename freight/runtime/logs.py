"""``docker logs``: a container's json-file log read back, its tail, a time window, and following.

The log is written by the container's supervisor (``stdio.JsonLog``), one
record per line; ``records`` yields them as dicts, what the CLI prints and
the API frames alike.
"""

from __future__ import annotations

import json
import os
import time

from freight.errors import FreightError, NotFound
from freight.runtime.containers import get
from freight.runtime.times import record_time

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, BinaryIO

    from freight.runtime.records import Container
    from freight.store import Store

_POLL = 0.1


def records(store: Store, c: Container, tail: int | None = None, since: float = 0.0,
            until: float = float("inf"), follow: bool = False,
            stopped: Callable[[], bool] | None = None) -> Iterator[dict[str, Any]]:
    """The log's records (the last ``tail`` when given) within [since, until); with ``follow``,
    then those written until the container stops (or ``stopped`` says to). The log stays open
    while it is read, so a container removed meanwhile (``--rm``, ``rm -f``) is read to its end."""
    path = c.record["LogPath"]
    if not path:  # --log-driver none
        raise FreightError("configured logging driver does not support reading")
    with _Log(path) as log:
        lines = _rotated_lines(path) + log.complete_lines()
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        yield from _within(lines, since, until)
        while follow and not (stopped is not None and stopped()):
            fresh = log.complete_lines()
            yield from _within(fresh, since, until)
            if not fresh and not _running(store, c.id):
                yield from _within(log.complete_lines(), since, until)  # what it wrote as it exited
                return
            time.sleep(_POLL)


MAX_LOG_FILES = 100  # rotated logs looked for (--log-opt max-file)


def _rotated_lines(path: str) -> list[bytes]:
    """The lines of the rotated logs (``PATH.1`` the newest), oldest first."""
    lines: list[bytes] = []
    for n in range(MAX_LOG_FILES, 0, -1):
        try:
            with open(f"{path}.{n}", "rb") as f:
                lines += f.read().splitlines()
        except FileNotFoundError:
            pass
    return lines


def _running(store: Store, cid: str) -> bool:
    try:
        return get(store, cid).running
    except NotFound:  # removed (--rm)
        return False


class _Log:
    """A json-file log read as it grows. It is created if the container has not written it yet
    (as its writer opens it: ``stdio.JsonLog``), so that it is read even if the container is
    removed before the next look."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file: BinaryIO | None = None
        self.rest = b""

    def __enter__(self) -> _Log:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()

    def complete_lines(self) -> list[bytes]:
        """The complete lines written since the last call."""
        if self.file is None:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o640)
                self.file = os.fdopen(fd, "rb")  # closed by __exit__
            except FileNotFoundError:
                return []
        data = self.rest + self.file.read()
        end = data.rfind(b"\n") + 1
        self.rest = data[end:]
        return data[:end].splitlines()


def _within(lines: list[bytes], since: float, until: float) -> Iterator[dict[str, Any]]:
    for line in lines:
        record: dict[str, Any] = json.loads(line)
        if (since or until != float("inf")) and not since <= record_time(record["time"]) < until:
            continue
        yield record
