"""``freight attach``: the streams of a container its monitor runs in the background.

Output is followed in the container's json-file log, which the monitor
writes as the container prints (complete lines, as Docker logs them), from
the moment of attaching until the container exits. Input (``-i`` containers
without a terminal) goes straight to the container's stdin pipe, reopened
for writing through ``/proc/<pid>/fd/0``: the monitor keeps that pipe open
for as long as the container runs, so no channel to the monitor is needed.
With ``-t`` the input goes to the terminal's master, which ``pidfd_getfd``
borrows from the monitor; the caller's terminal is raw meanwhile and
Ctrl-P Ctrl-Q detaches, as in Docker.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal

from freight.errors import Conflict
from freight.runtime.containers import get
from freight.runtime.lifecycle import wait_recorded
from freight.runtime.records import Container
from freight.runtime.signals import send_signal
from freight.runtime.stdio import RawTerminal, copy_window_size, write_all

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store import Store

_SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture
_DETACH = b"\x10\x11"  # Ctrl-P Ctrl-Q
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
                write_all(err if record.get("stream") == "stderr" else out, record["log"].encode())


def open_stdin(c: Container) -> int | None:
    """Where the container's input goes (its stdin pipe, or its terminal's master);
    None when it takes no input."""
    if not c.config.get("OpenStdin"):
        return None
    try:
        if c.config.get("Tty"):
            return pty_master(int(c.state.get("MonitorPid") or 0))
        return os.open(f"/proc/{c.pid}/fd/0", os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return None


def pty_master(monitor: int) -> int | None:
    """A duplicate of the pty master the monitor holds (``pidfd_getfd``)."""
    for entry in os.listdir(f"/proc/{monitor}/fd"):
        if os.readlink(f"/proc/{monitor}/fd/{entry}") in ("/dev/pts/ptmx", "/dev/ptmx"):
            break
    else:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(monitor)
    try:
        fd: int = libc.syscall(_SYS_PIDFD_GETFD, pidfd, int(entry), 0)
    finally:
        os.close(pidfd)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "pidfd_getfd")
    return fd


def attach(store: Store, ref: str, stdin: int | None = 0, stdout: int = 1, stderr: int = 2,
           sig_proxy: bool = True) -> int:
    """Relay until the container exits (or, with a terminal, the caller detaches); its exit code."""
    c = get(store, ref)
    if not c.running:
        raise Conflict("You cannot attach to a stopped container, start it first")
    to_container = open_stdin(c) if stdin is not None else None
    if to_container is not None and c.config.get("Tty"):
        assert stdin is not None
        copy_window_size(stdout, to_container)
        with RawTerminal(stdin):
            return _relay(store, c, stdin, to_container, stdout, stderr, sig_proxy)
    return _relay(store, c, stdin, to_container, stdout, stderr, sig_proxy)


def _relay(store: Store, c: Container, stdin: int | None, to_container: int | None, stdout: int, stderr: int,
           sig_proxy: bool) -> int:
    follower = _LogFollower(c.record["LogPath"])
    pidfd = os.pidfd_open(c.pid)
    tty = bool(c.config.get("Tty"))
    previous = {}
    if sig_proxy:
        for sig in _FORWARDED:
            previous[sig] = signal.signal(sig, lambda s, _f: send_signal(c.pid, s))
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if to_container is not None and stdin is not None:
            poller.register(stdin, select.POLLIN)
        while True:
            events = dict(poller.poll(50))
            follower.drain(stdout, stderr)
            if pidfd in events:
                break
            if to_container is not None and stdin in events:
                sent = _forward(stdin, to_container, tty)
                if sent is None:  # the detach keys
                    return 0
                if not sent:
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


def _forward(source: int, target: int, tty: bool) -> bool | None:
    """Copy a chunk of input: False at its end, None for the detach keys (with a terminal)."""
    try:
        data = os.read(source, 65536)
        if tty and _DETACH in data:
            write_all(target, data[:data.index(_DETACH)])
            return None
        if data:
            write_all(target, data)
            return True
    except OSError:
        pass
    return False
