"""The store's event log: what ``freight events`` (and the API's ``/events``) reports.

Every freight process that changes the store appends here — CLI commands, container
monitors, the API service — so one log tells what happened, in order, whoever did it,
as the Docker daemon's event stream does. It is one file of JSON lines,
``<root>/events.log``, each line an event in the Docker API's shape::

    {"status": "start", "id": "<id>", "from": "busybox", "Type": "container",
     "Action": "start", "Actor": {"ID": "<id>", "Attributes": {"image": "busybox", ...}},
     "scope": "local", "time": 1796544131, "timeNano": 1796544131002082769}

A line is appended with one ``write`` to a file opened ``O_APPEND``: the kernel keeps
concurrent appends whole and in order, so writers need no lock. Past
``ROTATE_BYTES`` the log is renamed to ``events.log.1`` (the one before is dropped),
under an ``flock`` so that two writers do not rotate twice; readers read both.

An event is a report of what was done, never the record of it: ``emit`` never fails
the command that calls it (a log it cannot write is skipped).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping

from freight.errors import InvalidArgument

LOG_NAME = "events.log"
ROTATE_BYTES = 8 * 1024 * 1024
_LEGACY_TYPES = ("container", "image")  # Docker's old status/id/from keys are on these only


def log_path(root: str) -> str:
    return os.path.join(root, LOG_NAME)


def event(type: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None,
          time_ns: int | None = None) -> dict[str, object]:
    """An event in the Docker API's shape (``from``: the image, for a container's events)."""
    now = time.time_ns() if time_ns is None else time_ns
    attrs = dict(attributes or {})
    out: dict[str, object] = {}
    if type in _LEGACY_TYPES:
        out.update(status=action, id=actor_id)
        if type == "container" and "image" in attrs:
            out["from"] = attrs["image"]
    out.update(Type=type, Action=action, Actor={"ID": actor_id, "Attributes": attrs}, scope="local",
               time=now // 1_000_000_000, timeNano=now)
    return out


def emit(root: str, type: str, action: str, actor_id: str,
         attributes: Mapping[str, str] | None = None) -> None:
    """Append one event to the store's log; a log that cannot be written is skipped."""
    line = json.dumps(event(type, action, actor_id, attributes), separators=(",", ":")) + "\n"
    path = log_path(root)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.write(fd, line.encode())
        if os.fstat(fd).st_size > ROTATE_BYTES:
            _rotate(path, fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _rotate(path: str, fd: int) -> None:
    """Rename the full log aside, once: a writer that waited for the lock finds it done."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        if os.path.samestat(os.fstat(fd), os.stat(path)):
            os.replace(path, path + ".1")
    except FileNotFoundError:
        pass
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def read(root: str, since_ns: int = 0, until_ns: int | None = None) -> list[dict[str, object]]:
    """The logged events from ``since_ns`` up to ``until_ns`` (nanoseconds since the epoch), oldest first."""
    path = log_path(root)
    found = []
    for name in (path + ".1", path):
        try:
            with open(name, "rb") as f:
                lines = f.readlines()
        except FileNotFoundError:
            continue
        found += [e for e in _parse(lines) if _within(e, since_ns, until_ns)]
    return found


def follow(root: str, since_ns: int = 0, until_ns: int | None = None, interval: float = 0.1,
           stopped: Callable[[], bool] | None = None) -> Iterator[dict[str, object]]:
    """The logged events from ``since_ns``, then each new one as it is appended, until
    ``until_ns`` passes (forever without it) or ``stopped()`` says the reader is gone."""
    path = log_path(root)
    yield from read(root, since_ns, until_ns)
    try:
        offset = os.path.getsize(path)
        inode = os.stat(path).st_ino
    except FileNotFoundError:
        offset, inode = 0, 0
    while until_ns is None or time.time_ns() < until_ns:
        time.sleep(interval)
        if stopped is not None and stopped():
            return
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        if st.st_ino != inode:  # rotated: the new file is read from its start
            offset, inode = 0, st.st_ino
        if st.st_size <= offset:
            continue
        with open(path, "rb") as f:
            f.seek(offset)
            lines = [line for line in f.readlines() if line.endswith(b"\n")]
        offset += sum(len(line) for line in lines)
        yield from (e for e in _parse(lines) if _within(e, since_ns, until_ns))


def _parse(lines: list[bytes]) -> Iterator[dict[str, object]]:
    for line in lines:
        try:
            parsed = json.loads(line)
        except ValueError:  # a line cut by a full disk: skipped
            continue
        if isinstance(parsed, dict):
            yield parsed


def _within(e: Mapping[str, object], since_ns: int, until_ns: int | None) -> bool:
    stamp = e.get("timeNano")
    return isinstance(stamp, int) and stamp >= since_ns and (until_ns is None or stamp <= until_ns)


# Filter keys Docker takes, and what each compares with.
FILTER_KEYS = ("container", "event", "image", "label", "type", "volume", "network", "scope", "builder",
               "daemon", "plugin", "node", "service", "secret", "config")


def parse_filters(specs: list[str]) -> dict[str, list[str]]:
    """``key=value`` filters (``--filter``, or the API's ``filters`` map) as lists by key."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {spec}")
        if key not in FILTER_KEYS:
            raise InvalidArgument(f"invalid filter '{key}'")
        out.setdefault(key, []).append(value)
    return out


def matches(e: Mapping[str, object], filters: Mapping[str, list[str]]) -> bool:
    """Docker's event filters: values of one key are alternatives, keys must all hold."""
    actor = e.get("Actor")
    actor = actor if isinstance(actor, dict) else {}
    attrs = actor.get("Attributes") or {}
    actor_id = str(actor.get("ID", ""))
    kind = str(e.get("Type", ""))

    def one(key: str, value: str) -> bool:
        if key == "event":
            return e.get("Action") == value or str(e.get("Action", "")).partition(":")[0] == value
        if key == "type":
            return kind == value
        if key == "scope":
            return e.get("scope") == value
        if key == "label":
            name, sep, wanted = value.partition("=")
            return name in attrs and (not sep or attrs[name] == wanted)
        if key == "image":
            if kind == "image":
                return actor_id == value or attrs.get("name") == value or actor_id.startswith(f"sha256:{value}")
            return attrs.get("image") == value
        return kind == key and (actor_id == value or actor_id.startswith(value) or attrs.get("name") == value)

    return all(any(one(key, value) for value in values) for key, values in filters.items())
