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
    ready_r, ready_w = os.pipe()
    os.set_inheritable(ready_w, True)
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDWR, 0),
               (os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)]
    argv = [sys.executable, "-m", "freight.runtime.monitor", root, container_id, str(ready_w)]
    argv += [json.dumps(exec_options)] if exec_options is not None else []
    try:
        pid = os.posix_spawn(sys.executable, argv, os.environ, file_actions=actions, setsid=True)
    finally:
        os.close(ready_w)
    outcome = read_report(ready_r)
    os.waitpid(pid, 0)
    code, text = outcome or (125, "")
    if code != 0:
        raise error_for(code, text or "the container monitor exited before starting the container")
