"""Hand a recorded container (or an exec in one) to a monitor process of its own.

A container dies with the process that started it (its parent-death signal),
so every container (and exec) needs a parent that outlives the caller: its
monitor, forked from the caller (``fork_monitor``: the caller has imported all
the monitor needs, which saves a new interpreter's start-up on every ``run``).
The monitor opens the store afresh and never touches the caller's connection,
and the caller starts no thread before. The monitor leaves the caller's session
and streams, and the caller returns once it reports that the command runs
(``handoff.report``).
"""

from __future__ import annotations

import os

from freight.errors import FreightError
from freight.runtime import channel
from freight.runtime.handoff import error_for, read_report, report

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from _socket import socket
    from collections.abc import Callable
    from typing import NoReturn

    from freight.runtime.childio import Attach



def fork_monitor(monitor: Callable[[int], int], callers: tuple[int, ...] = ()) -> int:
    """Run ``monitor(ready_w)`` in a forked process of a session of its own, its standard
    streams /dev/null (stderr ``$FREIGHT_MONITOR_LOG`` when set) and the fds ``callers``
    closed; return its PID once it reports that the command runs (raise its start error
    otherwise). It is forked twice, so it is never the caller's child (a long-lived caller
    would keep it a zombie that looks alive)."""
    ready_r, ready_w = os.pipe()
    pid_r, pid_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        for fd in (ready_r, pid_r, *callers):
            os.close(fd)
        _be_monitor(monitor, ready_w, pid_w)
    os.close(ready_w)
    os.close(pid_w)
    with open(pid_r, "rb") as said:
        grandchild = said.read()
    os.waitpid(pid, 0)
    _check(read_report(ready_r))
    return int(grandchild)


def fork_viewed(monitor: Callable[[int, socket], int], attach: Attach, stdin: int | None, tty: bool) -> int | str:
    """Fork ``monitor(ready_w, viewer)`` (``fork_monitor``) with this process as its first
    viewer (``channel.view``, with ``attach``'s streams, ``stdin`` attached or None);
    the view's outcome (``channel.view_monitor``)."""
    mine, theirs = channel.pair()
    try:
        pid = fork_monitor(lambda ready_w: monitor(ready_w, theirs), (mine.fileno(),))
    except BaseException:
        mine.close()
        raise
    finally:
        theirs.close()
    # the monitor cannot exit before we close our end, so its PID is not reused meanwhile
    return channel.view_monitor(mine, pid, stdin, 1 if attach.stdout is None else attach.stdout,
                                2 if attach.stderr is None else attach.stderr, tty, attach.sig_proxy,
                                attach.detach_keys)


def _be_monitor(monitor: Callable[[int], int], ready_w: int, pid_w: int) -> NoReturn:
    """The forked child: leave the caller's session, fork again (telling the caller on ``pid_w``
    the PID of the monitor, which the caller then no longer parents), leave the caller's
    streams, and supervise; its exit status is the container's exit code."""
    code = 125
    pipe = os.fstat(ready_w).st_ino
    try:
        os.setsid()
        grandchild = os.fork()
        if grandchild != 0:
            os.write(pid_w, b"%d" % grandchild)
            os._exit(0)
        os.close(pid_w)
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        if log := os.environ.get("FREIGHT_MONITOR_LOG"):  # a diagnostic: what the monitor says
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            os.dup2(fd, 2)
            os.close(fd)
        code = monitor(ready_w)
    except BaseException as err:  # never leave the caller waiting
        if _still(ready_w, pipe):  # not reported yet (a report closes it; the number may be reused)
            report(ready_w, err.exit_code if isinstance(err, FreightError) else 125, str(err) or type(err).__name__)
        else:
            import traceback  # only for a monitor's own failure, written to its log

            traceback.print_exc()
    os._exit(code if 0 <= code < 256 else 125)


def _still(fd: int, inode: int) -> bool:
    try:
        return os.fstat(fd).st_ino == inode
    except OSError:
        return False


def _check(outcome: tuple[int, str] | None) -> None:
    code, text = outcome or (125, "")
    if code != 0:
        raise error_for(code, text or "the container monitor exited before starting the container")
