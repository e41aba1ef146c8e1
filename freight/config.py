"""Where freight keeps its store, and other per-user settings."""

from __future__ import annotations

import os
from pathlib import Path


def default_root() -> Path:
    """``FREIGHT_ROOT``, else /var/lib/freight for root, else $XDG_DATA_HOME/freight."""
    if env := os.environ.get("FREIGHT_ROOT"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/freight")
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "freight"
