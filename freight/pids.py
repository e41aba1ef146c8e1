"""Process identity: a PID together with its start time names one process, even after
the PID is reused (used to tell whether a container's supervisor or a writer whose
temporary files are in the store is still alive)."""

from __future__ import annotations


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command's name, or None when there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks after boot), or None when there is none."""
    fields = _stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def alive(pid: int, started: str | None) -> bool:
    """Whether the process that was ``pid`` when it started at ``started`` still runs: a
    zombie does not (a killed monitor stays one until whoever inherited it reaps it)."""
    if pid <= 0 or started is None:
        return False
    fields = _stat(pid)
    return fields is not None and len(fields) > 19 and fields[0] not in ("Z", "X") and fields[19] == started
