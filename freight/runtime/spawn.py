"""Hand a recorded container (or an exec in one) to a monitor process of its own.

A container dies with the process that started it (its parent-death signal),
so a detached one (``run -d``, ``start``, ``exec -d``) needs a parent that
outlives the caller: ``freight.runtime.monitor``, spawned here (never forked,
so no sqlite connection or thread crosses a fork). The caller returns once the
monitor reports that the command runs (``handoff.report``).
"""

from __future__ import annotations

import json
import os
import sys

from freight.runtime.handoff import error_for, read_report

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any


def spawn(root: str, container_id: str, exec_options: dict[str, Any] | None = None) -> None:
    """Start the monitor for a recorded container (or for an exec in it); return once its command runs.

    Raises the command's start error (125/126/127) when it cannot start.
    """
    pid, outcome = _start_monitor(root, container_id, exec_options, (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDWR, 0),
                                  [(os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)])
    os.waitpid(pid, 0)
    _raise_failed(outcome)


def spawn_attached(root: str, container_id: str, stdio: tuple[int, int, int], stdin: bool,
                   exec_options: dict[str, Any] | None = None) -> tuple[int, int]:
    """Like ``spawn``, with a client's streams as the monitor's stdin, stdout and stderr (``stdin``:
    whether the input goes to the command); return once the command runs.

    Returns the monitor's PID and a pipe on which it reports the command's exit code
    (``handoff.read_report``). For a container the monitor is on its own, as ``spawn``'s; for
    an exec it stays our child (reap it), so that the exec ends with the client.
    """
    exit_r, exit_w = os.pipe()
    os.set_inheritable(exit_w, True)
    options = {**(exec_options or {}), "attach": {"stdin": stdin, "exit_fd": exit_w,
                                                   "foreground": exec_options is not None}}
    actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(stdio)]
    try:
        pid, outcome = _start_monitor(root, container_id, options, None, actions)
    except BaseException:
        os.close(exit_r)
        raise
    finally:
        os.close(exit_w)
    if exec_options is None or (outcome or (125, ""))[0] != 0:  # else our child until the exec ends
        os.waitpid(pid, 0)
    try:
        _raise_failed(outcome)
    except BaseException:
        os.close(exit_r)
        raise
    return pid, exit_r


def _start_monitor(root: str, container_id: str, options: dict[str, Any] | None, first: Any,
                   actions: list[Any]) -> tuple[int, tuple[int, str] | None]:
    """Spawn the monitor (``actions``: its standard streams) and read its readiness report."""
    ready_r, ready_w = os.pipe()
    os.set_inheritable(ready_w, True)
    argv = [sys.executable, "-m", "freight.runtime.monitor", root, container_id, str(ready_w)]
    argv += [json.dumps(options)] if options is not None else []
    try:
        pid = os.posix_spawn(sys.executable, argv, os.environ, file_actions=[first, *actions] if first else actions,
                             setsid=True)
    finally:
        os.close(ready_w)
    return pid, read_report(ready_r)


def _raise_failed(outcome: tuple[int, str] | None) -> None:
    code, text = outcome or (125, "")
    if code != 0:
        raise error_for(code, text or "the container monitor exited before starting the container")
