"""Where freight keeps its store, and other per-user settings."""

from __future__ import annotations

import os


def default_root() -> str:
    """``FREIGHT_ROOT``, else /var/lib/freight for root, else $XDG_DATA_HOME/freight."""
    if env := os.environ.get("FREIGHT_ROOT"):
        return env
    if os.geteuid() == 0:
        return "/var/lib/freight"
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "freight")
