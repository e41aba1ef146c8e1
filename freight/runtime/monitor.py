"""The per-container monitor of a detached container or exec: ``python -m freight.runtime.monitor``.

It is a fresh process (spawned, never forked from the caller, so no sqlite
connection or thread crosses a fork). It forks once more so the caller can
reap it at once, starts a new session, and then supervises the container:
relays its output to the json-file log, runs the port proxies, records the
exit code, finish time and OOM kill, and does ``--rm``. Given exec options
(``exec -d``), it instead runs that command in the running container and stays
its parent. It reports ``0 <pid>`` or ``<exit code> <error>`` on the readiness
fd it was given.

Usage: ``python -m freight.runtime.monitor ROOT CONTAINER_ID READY_FD [EXEC_JSON]``
"""

from __future__ import annotations

import json
import os
import sys

from freight.errors import FreightError

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
    message = b""
    while chunk := os.read(ready_r, 65536):
        message += chunk
    os.close(ready_r)
    os.waitpid(pid, 0)
    code, _, text = message.decode(errors="replace").partition(" ")
    if code != "0":
        from freight.runtime.launch import error_for

        raise error_for(int(code) if code.isdigit() else 125,
                        text or "the container monitor exited before starting the container")


def main(argv: list[str]) -> int:
    root, container_id, ready = argv[0], argv[1], int(argv[2])
    if os.fork() != 0:
        return 0
    code = 125
    try:
        from freight.runtime import containers
        from freight.store import open_store

        store = open_store(root)
        if len(argv) > 3:
            options = json.loads(argv[3])
            code = containers.exec_in(store, container_id, attach=containers.Attach(stdin=None),
                                      ready_w=ready, **options)
        else:
            c = containers.get(store, container_id)
            code = containers.supervise(store, c, None, inserted=True, ready_w=ready)
    except FreightError as err:
        notify(ready, err.exit_code, str(err))
    except BaseException as err:  # never leave the caller waiting
        notify(ready, 125, str(err) or type(err).__name__)
    return code if 0 <= code < 256 else 125


def notify(fd: int, code: int, text: str) -> None:
    from freight.runtime.containers import notify as tell

    tell(fd, code, text)


if __name__ == "__main__":
    os._exit(main(sys.argv[1:]))
