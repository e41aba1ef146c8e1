"""Stopping, killing, waiting for and removing containers: ``stop``, ``kill``, ``wait``, ``rm``.

A container's supervisor records its exit (``supervise``): these verbs signal
the container's process, wait for it to end (a pidfd: no polling) and then for
the record to say so.
"""

from __future__ import annotations

import os
import select
import signal
import time

from freight.errors import Conflict, NotFound
from freight.pids import start_time
from freight.runtime import containerdir
from freight.runtime.containers import get
from freight.runtime.events import container_event
from freight.runtime.pause import thaw
from freight.runtime.records import Container
from freight.runtime.removal import dispose
from freight.runtime.restart import manual_stop, restarting
from freight.runtime.signals import parse_signal, send_signal

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store import Store


def kill(store: Store, ref: str, sig: str | int = "KILL") -> Container:
    try:
        c = get(store, ref)
    except NotFound as err:
        raise NotFound(f"Cannot kill container: {ref}: {err}") from None
    number = parse_signal(sig)
    if not c.running:
        raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
    manual_stop(store, c.id)
    send_signal(c.pid, number)
    container_event(store, c, "kill", signal=str(number))
    if c.state.get("Paused"):  # a frozen process takes its signal once thawed, as Docker's does
        thaw(store, c)
    return c


def stop(store: Store, ref: str, timeout: int | None = None, sig: str | None = None) -> Container:
    """The stop signal (the image's, else SIGTERM), then SIGKILL after ``timeout`` seconds."""
    c = get(store, ref)
    manual_stop(store, c.id)  # no restart, even of one waiting to restart
    if not c.running:
        return c
    if timeout is None:
        configured = c.config.get("StopTimeout")
        timeout = 10 if configured is None else int(configured)  # Docker's default
    number = parse_signal(sig or c.config.get("StopSignal") or "SIGTERM")
    send_signal(c.pid, number)
    container_event(store, c, "kill", signal=str(number))
    if c.state.get("Paused"):
        thaw(store, c)
    if not _wait_process_exit(c, timeout if timeout >= 0 else None):
        send_signal(c.pid, signal.SIGKILL)
        container_event(store, c, "kill", signal=str(int(signal.SIGKILL)))
        _wait_process_exit(c, None)
    try:
        stopped = wait_recorded(store, c.id)
    except NotFound:  # an --rm container: its monitor removed it, as Docker's daemon does
        stopped = c
    container_event(store, c, "stop")
    return stopped


def _wait_process_exit(c: Container, timeout: float | None) -> bool:
    """Wait for the container's process to end (pidfd: no polling); False on timeout."""
    try:
        fd = os.pidfd_open(c.pid)
    except OSError:
        return True
    try:
        if start_time(c.pid) != c.state.get("StartTime"):
            return True
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def wait_recorded(store: Store, cid: str, timeout: float = 30.0) -> Container:
    """The container once its supervisor recorded the exit (or removed it: then NotFound)."""
    deadline = time.monotonic() + timeout
    while True:
        c = get(store, cid)
        if not c.running or time.monotonic() > deadline:
            return c
        time.sleep(0.01)


def wait(store: Store, ref: str) -> int:
    """``docker wait``: block until the container stops; its exit code."""
    c = get(store, ref)
    if c.running:
        _wait_process_exit(c, None)
        c = wait_recorded(store, c.id)
    return int(c.state.get("ExitCode") or 0)


def _restart_cancelled(store: Store, c: Container, timeout: float = 30.0) -> Container:
    """``c``, stopped by hand while its monitor waited to restart it, once the monitor gave up
    (or, when it was starting it meanwhile, once it runs: then it is killed as a running one)."""
    deadline = time.monotonic() + timeout
    while restarting(c) and not c.running and time.monotonic() < deadline:
        time.sleep(0.01)
        c = get(store, c.id)
    return c


def remove(store: Store, ref: str, force: bool = False, volumes: bool = False) -> Container:
    """``docker rm``: a running container only with ``force`` (killed first)."""
    c = get(store, ref)
    if restarting(c):
        if not force:
            raise Conflict(f"cannot remove container \"{c.record['Name']}\": container is restarting: "
                           f"stop the container before removing or force remove")
        manual_stop(store, c.id)
        c = _restart_cancelled(store, c)
    if c.running:
        if not force:
            raise Conflict(f'cannot remove container "{c.record["Name"]}": container is running: '
                           f"stop the container before removing or force remove")
        manual_stop(store, c.id)
        send_signal(c.pid, signal.SIGKILL)
        _wait_process_exit(c, None)
        try:
            c = wait_recorded(store, c.id)
        except NotFound:  # its --rm monitor removed the row: wait until it removed the rest
            held = containerdir.lock(c.directory(store))
            if held is not None:
                os.close(held)
            return c
    dispose(store, c, None, remove_row=True, volumes=volumes)
    return c
