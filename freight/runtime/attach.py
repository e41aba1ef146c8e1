"""``freight attach``: the streams of a container its monitor runs in the background.

Output is followed in the container's json-file log, which the monitor
writes as the container prints (complete lines, as Docker logs them), from
the moment of attaching until the container exits. Input (``-i`` containers
without a terminal) goes straight to the container's stdin pipe, reopened
for writing through ``/proc/<pid>/fd/0``: the monitor keeps that pipe open
for as long as the container runs, so no channel to the monitor is needed.
"""

from __future__ import annotations

import json
import os
import select
import signal
from typing import Any

from freight.errors import Conflict, InvalidArgument

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
              signal.SIGUSR2)


class _LogFollower:
    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = os.path.getsize(path) if os.path.exists(path) else 0
        self.partial = b""

    def drain(self, out: int, err: int) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
                self.offset = f.tell()
        except FileNotFoundError:
            return
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if line:
                record = json.loads(line)
                _write(err if record.get("stream") == "stderr" else out, record["log"].encode())


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _open_stdin(c: Any) -> int | None:
    """A writable end of the container's stdin pipe, or None when it takes no input."""
    if not c.config.get("OpenStdin") or c.config.get("Tty"):
        return None
    try:
        return os.open(f"/proc/{c.pid}/fd/0", os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return None


def attach(store: Any, ref: str, stdin: int | None = 0, stdout: int = 1, stderr: int = 2,
           sig_proxy: bool = True) -> int:
    """Relay until the container exits; its exit code."""
    from freight.runtime.containers import get, wait_recorded

    c = get(store, ref)
    if not c.running:
        raise Conflict("You cannot attach to a stopped container, start it first")
    if c.config.get("Tty") and stdin is not None and c.config.get("OpenStdin"):
        raise InvalidArgument("attaching the input of a container with a terminal is not supported; "
                              "use --no-stdin")
    follower = _LogFollower(c.record["LogPath"])
    pidfd = os.pidfd_open(c.pid)
    to_container = _open_stdin(c) if stdin is not None else None
    previous = {}
    if sig_proxy:
        for sig in _FORWARDED:
            previous[sig] = signal.signal(sig, lambda s, _f: _signal(c.pid, s))
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if to_container is not None:
            poller.register(stdin, select.POLLIN)
        while True:
            events = dict(poller.poll(50))
            follower.drain(stdout, stderr)
            if pidfd in events:
                break
            if to_container is not None and stdin in events and not _forward(stdin, to_container):
                poller.unregister(stdin)
                os.close(to_container)
                to_container = None
        c = wait_recorded(store, c.id)
        follower.drain(stdout, stderr)
        return int(c.state.get("ExitCode") or 0)
    finally:
        os.close(pidfd)
        if to_container is not None:
            os.close(to_container)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _forward(source: int, target: int) -> bool:
    try:
        data = os.read(source, 65536)
        if data:
            _write(target, data)
            return True
    except OSError:
        pass
    return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
