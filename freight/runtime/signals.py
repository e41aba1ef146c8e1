"""Signals by Docker's names and numbers, and sending them to a container's process."""

from __future__ import annotations

import os
import signal

from freight.errors import InvalidArgument


def parse_signal(value: str | int) -> int:
    """``KILL``, ``SIGKILL``, ``9`` -> 9 (Docker's names and numbers)."""
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
