"""The per-container monitor of a detached container or exec: ``python -m freight.runtime.monitor``.

``spawn`` starts it as a fresh process. It forks once more so the caller can
reap it at once, starts a new session, and then supervises the container
(``supervise``): relays its output to the json-file log, runs the port
proxies, records the exit code, finish time and OOM kill, and does ``--rm``.
Given exec options (``exec -d``), it instead runs that command in the running
container and stays its parent (``execute``). It reports ``0 <pid>`` or
``<exit code> <error>`` on the readiness fd it was given (``handoff.report``).

Usage: ``python -m freight.runtime.monitor ROOT CONTAINER_ID READY_FD [EXEC_JSON]``
"""

from __future__ import annotations

import json
import os
import sys

from freight.errors import FreightError
from freight.runtime.childio import Attach
from freight.runtime.containers import get
from freight.runtime.execute import exec_in
from freight.runtime.handoff import report
from freight.runtime.supervise import supervise
from freight.store import open_store


def main(argv: list[str]) -> int:
    root, container_id, ready = argv[0], argv[1], int(argv[2])
    if os.fork() != 0:
        return 0
    code = 125
    try:
        store = open_store(root)
        if len(argv) > 3:
            options = json.loads(argv[3])
            code = exec_in(store, container_id, attach=Attach(stdin=None), ready_w=ready, **options)
        else:
            code = supervise(store, get(store, container_id), None, inserted=True, ready_w=ready)
    except FreightError as err:
        report(ready, err.exit_code, str(err))
    except BaseException as err:  # never leave the caller waiting
        report(ready, 125, str(err) or type(err).__name__)
    return code if 0 <= code < 256 else 125


if __name__ == "__main__":
    os._exit(main(sys.argv[1:]))
