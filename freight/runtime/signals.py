"""Signals by Docker's names and numbers, sending them to a container's process, and the exit
codes Docker reports for a process they ended."""

from __future__ import annotations

import os

from freight.errors import InvalidArgument


def parse_signal(value: str | int) -> int:
    """``KILL``, ``SIGKILL``, ``9`` -> 9 (Docker's names and numbers)."""
    import signal  # the enum module behind it costs a container's monitor memory it never needs

    text = str(value).strip().upper()
    if text.isdigit():
        number = int(text)
        if 0 < number < 65:
            return number
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        sig = getattr(signal.Signals, name, None)
        if sig is not None:
            return int(sig)
    raise InvalidArgument(f"Invalid signal: {value}")


def send_signal(pid: int, sig: int) -> None:
    """Signal ``pid``; one that is gone already is no error."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def exit_code(status: int) -> int:
    """A wait status as Docker reports it: the exit code, or 128+N for signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code
