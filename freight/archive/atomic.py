"""Files that appear whole or not at all: written beside their place, then renamed into it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO


def write_atomic(path: Path, write: Callable[[BinaryIO], object], *, mode: int = 0o644,
                 prefix: str = ".tmp-") -> None:
    """Create ``path`` (mode ``mode``) with what ``write`` writes, through a temporary file
    named ``prefix...`` beside it: a failure, or a crash, leaves no partial ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
