"""The per-container monitor of a detached container or exec: ``python -m freight.runtime.monitor``.

``spawn`` starts it as a fresh process. It forks once more so the caller can
reap it at once, starts a new session, and then supervises the container
(``supervise``): relays its output to the json-file log, runs the port
proxies, records the exit code, finish time and OOM kill, and does ``--rm``.
Given exec options (``exec -d``), it instead runs that command in the running
container and stays its parent (``execute``). It reports ``0 <pid>`` or
``<exit code> <error>`` on the readiness fd it was given (``handoff.report``).

With ``attach`` options (``spawn_attached``) a client's streams are its standard streams, and it
reports the exit code on ``exit_fd`` too.

Usage: ``python -m freight.runtime.monitor ROOT CONTAINER_ID READY_FD [OPTIONS_JSON]``
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
    options = json.loads(argv[3]) if len(argv) > 3 else None
    attached = options.pop("attach", None) if options is not None else None
    if not (attached and attached["foreground"]) and os.fork() != 0:
        return 0
    code = 125
    try:
        store = open_store(root)
        attach = None
        if attached is not None:  # a client's streams are ours (``spawn_attached``)
            attach = Attach(stdin=0 if attached["stdin"] else None, sig_proxy=False)
        if options:
            code = exec_in(store, container_id, attach=attach or Attach(stdin=None), ready_w=ready, **options)
        else:
            code = supervise(store, get(store, container_id), attach, inserted=True, ready_w=ready)
    except FreightError as err:
        report(ready, err.exit_code, str(err))
    except BaseException as err:  # never leave the caller waiting
        report(ready, 125, str(err) or type(err).__name__)
    if attached is not None:
        report(attached["exit_fd"], code, "exited")
    return code if 0 <= code < 256 else 125


if __name__ == "__main__":
    os._exit(main(sys.argv[1:]))
