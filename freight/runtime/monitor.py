"""The monitor of a detached exec (``exec -d``): ``python -m freight.runtime.monitor``.

``spawn`` starts it as a fresh process in a new session. It forks once more so
the caller can reap it at once, then runs the command in the running container
and stays its parent (``execute``). It reports ``0 <pid>`` or ``<exit code>
<error>`` on the readiness fd it was given (``handoff.report``). (A container's
own monitor is forked by the caller: ``spawn.fork_monitor``, ``supervise``.)

Usage: ``python -m freight.runtime.monitor ROOT CONTAINER_ID READY_FD EXEC_JSON``
"""

from __future__ import annotations

import json
import os
import sys

from freight.errors import FreightError
from freight.runtime.childio import Attach
from freight.runtime.execute import exec_in
from freight.runtime.handoff import report
from freight.store import open_store


def main(argv: list[str]) -> int:
    root, container_id, ready = argv[0], argv[1], int(argv[2])
    if os.fork() != 0:
        return 0
    code = 125
    try:
        options = json.loads(argv[3])
        code = exec_in(open_store(root), container_id, attach=Attach(stdin=None), ready_w=ready, **options)
    except FreightError as err:
        report(ready, err.exit_code, str(err))
    except BaseException as err:  # never leave the caller waiting
        report(ready, 125, str(err) or type(err).__name__)
    return code if 0 <= code < 256 else 125


if __name__ == "__main__":
    os._exit(main(sys.argv[1:]))
