"""A container process's streams and signals, from its fork to its exit: what the
monitor of a container (``supervise``) and of an exec (``execute``) share.

``ChildStdio`` makes the pipes (or, with ``-t``, the socket the container's pty
master comes back on) before the fork; ``Launched`` is the forked process with
its streams, cgroup and port proxy; ``relay_and_wait`` copies its output to the
json-file log and the monitor's viewers, and their input to it, until it exits.
"""

from __future__ import annotations

import os

from freight.record import Record
from freight.runtime.channel import Relay
from freight.runtime.handoff import Stdio
from freight.runtime.launch import wait_exec
from freight.runtime.signals import exit_code
from freight.runtime.slim import SETTLE
from freight.runtime.stdio import JsonLog

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from typing import Any

    from freight.runtime.cgroups import Cgroup
    from freight.runtime.channel import Hub
    from freight.runtime.hooks import Hook
    from freight.runtime.netsandbox import Sandbox
    from freight.runtime.portproxy import PortProxy
    from freight.runtime.spec import ContainerSpec


class Attach(Record):
    """A viewer's streams (None: not attached), whether it proxies signals, and the keys
    that detach it from a terminal (``--detach-keys``; Ctrl-P Ctrl-Q by default)."""

    stdin: int | None = 0
    stdout: int | None = 1
    stderr: int | None = 2
    sig_proxy: bool = True
    detach_keys: bytes = b"\x10\x11"


class ChildStdio:
    """The pipes (or the socket a pty master comes back on) between a container process and us."""

    def __init__(self, spec: ContainerSpec, winsize: bytes | None = None) -> None:
        self.child_fds: list[int] = []
        self.sources: dict[int, str] = {}
        self.stdin_to: int | None = None
        self.tty_sock: socket.socket | None = None
        if spec.tty:
            import socket  # a few ms of start-up: only -t needs it

            self.tty_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.child_fds.append(child_sock.detach())
            self.stdio = Stdio(-1, -1, -1, tty_socket=self.child_fds[0], winsize=winsize)
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


class Launched(Record, frozen=False):
    """A forked container process, its streams, cgroup and port proxy; ``hooks`` are the
    OCI hooks of its CDI devices (poststart and poststop are the monitor's)."""

    pid: int
    exec_r: int
    sources: dict[int, str]
    stdin_to: int | None
    cgroup: Cgroup | None
    proxy: PortProxy | None
    tty_sock: socket.socket | None
    hooks: dict[str, list[Hook]] | None = None
    network: Sandbox | None = None  # its network namespace and leases (netsandbox)

    def wait_exec(self) -> None:
        """Until the command runs (the pty master arrives first with -t); its set-up error."""
        if self.tty_sock is not None:
            self.sources, self.stdin_to = _receive_pty(self.tty_sock)
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


def _receive_pty(sock: socket.socket) -> tuple[dict[int, str], int | None]:
    import socket  # imported already for the socket pair (-t)

    try:
        _msg, fds, _flags, _addr = socket.recv_fds(sock, 16, 1)
    finally:
        sock.close()
    if not fds:
        return {}, None
    master = fds[0]
    os.set_inheritable(master, False)
    return {master: "stdout"}, master


def relay_and_wait(config: dict[str, Any], log_path: str | None, launched: Launched,
                   hub: Hub | None = None, log_limits: tuple[int, int] = (0, 1),
                   settled: Callable[[Relay], None] | None = None) -> int:
    """In a monitor: relay the streams to the json-file log and to the ``hub``'s viewers
    (``channel``), and their input to the process, until it ends; its exit code. ``log_limits``:
    the log's max size and number of files (``hostconfig.log_limits``). ``settled`` is called
    once the process ran ``slim.SETTLE`` seconds with nothing in flight (it re-executes the
    monitor small, and returns only when it could not)."""
    relay = Relay(launched.sources, JsonLog(log_path, *log_limits) if log_path else None, launched.stdin_to,
                  close_stdin=not config.get("Tty"), hub=hub)
    if settled is None:
        relay.run()
    elif not relay.run(SETTLE):
        settled(relay)
        relay.run()
    return exit_code_of(launched.pid)


def exit_code_of(pid: int) -> int:
    """Reap ``pid`` and return its Docker-style exit code."""
    return exit_code(os.waitpid(pid, 0)[1])
