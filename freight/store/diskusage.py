"""Bytes on disk as ``du -sb`` counts them: the apparent size of every file, directory and
symlink below a path, each inode once. ``system df`` adds these up, and every prune reports
what it removes in them, so the two agree with each other and with ``du``."""

from __future__ import annotations

import os
import stat


def du(path: str, seen: set[tuple[int, int]] | None = None) -> int:
    """The bytes of ``path`` and everything below it (0 when it is gone); an inode with several
    links counts once per ``seen`` (a set shared across calls counts it once across them)."""
    seen = set() if seen is None else seen
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0
    total = _once(st, seen)
    if stat.S_ISDIR(st.st_mode):
        total += _below(path, seen)
    return total


def _below(path: str, seen: set[tuple[int, int]]) -> int:
    total = 0
    try:
        entries = list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        total += _once(st, seen)
        if entry.is_dir(follow_symlinks=False):
            total += _below(entry.path, seen)
    return total


def _once(st: os.stat_result, seen: set[tuple[int, int]]) -> int:
    if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if key in seen:
            return 0
        seen.add(key)
    return st.st_size
