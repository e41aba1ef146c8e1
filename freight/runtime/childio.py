"""A container process's streams and signals, from its fork to its exit: what the
supervisor of a container (``supervise``) and of an exec (``execute``) share.

``ChildStdio`` makes the pipes (or, with ``-t``, the socket the container's pty
master comes back on) before the fork; ``Launched`` is the forked process with
its streams, cgroup and port proxy; ``relay_and_wait`` copies its output to the
caller and the json-file log, the caller's input and signals to it, until it
exits.
"""

from __future__ import annotations

import fcntl
import os
import signal

from freight.record import Record
from freight.runtime.handoff import Stdio, exit_code
from freight.runtime.launch import wait_exec
from freight.runtime.signals import send_signal
from freight.runtime.stdio import JsonLog, RawTerminal, Relay, copy_window_size

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import socket
    from typing import Any

    from freight.runtime.cgroups import Cgroup
    from freight.runtime.hooks import Hook
    from freight.runtime.portproxy import PortProxy
    from freight.runtime.spec import ContainerSpec

_SIGNALS_NOT_FORWARDED = {"SIGKILL", "SIGSTOP", "SIGCHLD", "SIGWINCH", "SIGPIPE", "SIGURG"}


class Attach(Record):
    """The caller's streams for a foreground container (None: not attached)."""

    stdin: int | None = 0
    stdout: int | None = 1
    stderr: int | None = 2
    sig_proxy: bool = True


class ChildStdio:
    """The pipes (or the socket a pty master comes back on) between a container process and us."""

    def __init__(self, spec: ContainerSpec, terminal: int | None = None) -> None:
        self.child_fds: list[int] = []
        self.sources: dict[int, str] = {}
        self.stdin_to: int | None = None
        self.tty_sock: socket.socket | None = None
        if spec.tty:
            import socket  # a few ms of start-up: only -t needs it

            self.tty_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.child_fds.append(child_sock.detach())
            self.stdio = Stdio(-1, -1, -1, tty_socket=self.child_fds[0], winsize=_window_size(terminal))
            return
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.sources = {out_r: "stdout", err_r: "stderr"}
        self.child_fds += [out_w, err_w]
        if spec.stdin:
            in_r, self.stdin_to = os.pipe()
        else:
            in_r = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        self.child_fds.append(in_r)
        self.stdio = Stdio(in_r, out_w, err_w)

    def close_child_ends(self) -> None:
        for fd in self.child_fds:
            os.close(fd)
        self.child_fds = []

    def abort(self) -> None:
        for fd in [*self.sources, *([self.stdin_to] if self.stdin_to is not None else [])]:
            os.close(fd)
        if self.tty_sock is not None:
            self.tty_sock.close()


def _window_size(fd: int | None) -> bytes | None:
    """The packed window size of terminal ``fd``, or None when it is not a terminal."""
    if fd is None or not os.isatty(fd):
        return None
    import termios  # only -t needs it

    return fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)


class Launched(Record, frozen=False):
    """A forked container process, its streams, cgroup and port proxy; ``hooks`` are the
    OCI hooks of its CDI devices (poststart and poststop are the supervisor's)."""

    pid: int
    exec_r: int
    sources: dict[int, str]
    stdin_to: int | None
    cgroup: Cgroup | None
    proxy: PortProxy | None
    tty_sock: socket.socket | None
    attach: Attach | None
    hooks: dict[str, list[Hook]] | None = None

    def wait_exec(self) -> None:
        """Until the command runs (the pty master arrives first with -t); its set-up error."""
        if self.tty_sock is not None:
            self.sources, self.stdin_to = _receive_pty(self.tty_sock, self.attach)
            self.tty_sock = None
        wait_exec(self.pid, self.exec_r)

    def abort(self) -> None:
        """Release what a container that never ran holds."""
        for fd in self.sources:
            os.close(fd)
        if self.stdin_to is not None and self.stdin_to not in self.sources:
            os.close(self.stdin_to)
        self.sources, self.stdin_to = {}, None
        release(self.cgroup, self.proxy)


def release(cgroup: Cgroup | None, proxy: PortProxy | None) -> None:
    """Remove a container's cgroup and close its port proxy."""
    if cgroup is not None:
        cgroup.destroy()
    if proxy is not None:
        proxy.stop()


def _receive_pty(sock: socket.socket, attach: Attach | None) -> tuple[dict[int, str], int | None]:
    import socket  # imported already for the socket pair (-t)

    try:
        _msg, fds, _flags, _addr = socket.recv_fds(sock, 16, 1)
    finally:
        sock.close()
    if not fds:
        return {}, None
    master = fds[0]
    os.set_inheritable(master, False)
    if attach is not None and attach.stdout is not None and os.isatty(attach.stdout):
        copy_window_size(attach.stdout, master)
    return {master: "stdout"}, master


def relay_and_wait(config: dict[str, Any], log_path: str | None, attach: Attach | None,
                   launched: Launched, log_limits: tuple[int, int] = (0, 1)) -> int:
    """Relay the streams (and signals) until the process ends; its exit code. ``log_limits``:
    the log's max size and number of files (``hostconfig.log_limits``)."""
    tty = bool(config.get("Tty"))
    log = JsonLog(log_path, *log_limits) if log_path else None
    stdin_from = None
    if attach is not None and attach.stdin is not None and config.get("OpenStdin"):
        stdin_from = attach.stdin
    relay = Relay(launched.sources, log,
                  attach.stdout if attach else None,
                  (attach.stdout if tty else attach.stderr) if attach else None,
                  stdin_from, launched.stdin_to, close_stdin=not tty)
    previous: dict[int, Any] = {}
    if attach is not None and attach.sig_proxy:
        for sig in signal.Signals:
            if sig.name in _SIGNALS_NOT_FORWARDED:
                continue
            try:
                previous[sig] = signal.signal(sig, lambda s, _f: send_signal(launched.pid, s))
            except (OSError, ValueError):
                pass
    if tty and attach is not None and attach.stdout is not None and launched.stdin_to is not None:
        master, out = launched.stdin_to, attach.stdout
        previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH,
                                                  lambda _s, _f: copy_window_size(out, master))
    try:
        if tty and stdin_from is not None:
            with RawTerminal(stdin_from):
                relay.run()
        else:
            relay.run()
        return exit_code_of(launched.pid)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def exit_code_of(pid: int) -> int:
    """Reap ``pid`` and return its Docker-style exit code."""
    return exit_code(os.waitpid(pid, 0)[1])
