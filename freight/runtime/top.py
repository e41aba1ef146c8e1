"""``freight top``: the processes of a running container, as ``docker top`` shows them.

Like Docker, it runs the host's ``ps`` (default options ``-ef``) and keeps the
rows whose PID is in the container's cgroup.
"""

from __future__ import annotations

import subprocess

from freight.errors import FreightError
from freight.runtime import cgroups
from freight.runtime.containers import get_running

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store import Store


def top(store: Store, ref: str, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """(titles, rows) of ``ps ps_args`` restricted to the container's processes."""
    c = get_running(store, ref)
    cgroup = cgroups.load(c.id)
    pids = set(cgroup.pids()) if cgroup is not None else {c.pid}
    args = ps_args or ["-ef"]
    try:
        output = subprocess.run(["ps", *args], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise FreightError(f"Error running ps: {getattr(err, 'stderr', '') or err}".strip()) from None
    lines = output.splitlines()
    titles = lines[0].split()
    if "PID" not in titles:
        raise FreightError("Couldn't find PID field in ps output")
    column = titles.index("PID")
    rows = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in pids:
            rows.append(fields)
    return titles, rows
