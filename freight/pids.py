"""Process identity: a PID together with its start time names one process, even after
the PID is reused (used to tell whether a container's supervisor or a writer whose
temporary files are in the store is still alive)."""

from __future__ import annotations


def start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks after boot), or None when there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def alive(pid: int, started: str | None) -> bool:
    """Whether the process that was ``pid`` when it started at ``started`` still runs."""
    return pid > 0 and started is not None and start_time(pid) == started
