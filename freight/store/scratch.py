"""Temporary space of the processes that write to the store, and what killed ones left.

Each process keeps its temporary files in the store (blobs being written, layers
being unpacked, build steps' container directories, spooled archives) in one
directory of its own, ``tmp/<pid>-<start time>``, made on first use and removed
when the process exits. The PID and the start time the kernel gave it name the
owner even after its PID is reused, so whether the owner still runs is one read
of ``/proc/<pid>/stat``: a directory whose owner is gone (killed, or a machine
that went down) is removed by the next writer (``Store.writing``) or by GC, and
a running writer's files are never touched, whichever lock it holds.

Temporary entries of older versions of freight (loose files in ``tmp/``,
``unpack-*`` and ``remove-*`` in ``snapshots/``, ``build-*`` in the root) name no
owner: only GC, which holds the store lock exclusively, removes them.
"""

from __future__ import annotations

import atexit
import os

from freight.pids import alive, start_time
from freight.record import Record
from freight.settings import PRIVATE
from freight.store.diskusage import du

TMP = "tmp"
_LEGACY = (("snapshots", ("unpack-", "remove-")), ("", ("build-output-", "build-add-", "build-context-")))
_own: dict[tuple[str, int], str] = {}  # (store root, pid) -> this process's directory


class Entry(Record):
    """A temporary file or directory in the store; ``owned``: its writer still runs."""

    path: str
    owned: bool


def directory(root: str) -> str:
    """This process's temporary directory in the store at ``root`` (made on first use,
    removed when the process exits)."""
    key = (root, os.getpid())
    path = _own.get(key)
    if path is None:
        tmp = os.path.join(root, TMP)
        try:
            os.mkdir(tmp, PRIVATE)
        except FileExistsError:
            pass
        path = os.path.join(tmp, f"{os.getpid()}-{start_time(os.getpid())}")
        os.makedirs(path, PRIVATE, exist_ok=True)
        atexit.register(_remove_own, path, os.getpid())
        _own[key] = path
    return path


def _remove_own(path: str, pid: int) -> None:
    if os.getpid() != pid:  # a forked child that happens to run exit handlers
        return
    try:
        os.rmdir(path)  # usually empty: a writer removes what it made
    except FileNotFoundError:
        pass
    except OSError:
        _remove(path)


def _remove(path: str) -> None:
    import shutil  # heavy, and only what a killed writer left is removed so

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _owner_runs(name: str) -> bool | None:
    """Whether the writer that ``tmp/<name>`` belongs to still runs; None: no writer's name."""
    pid, sep, started = name.partition("-")
    if not (sep and pid.isdigit() and started.isdigit()):
        return None
    return alive(int(pid), started)


def entries(root: str) -> list[Entry]:
    """Every temporary entry in the store, the older versions' included (see the module
    docstring), but for the empty directories of running writers."""
    found = []
    tmp = os.path.join(root, TMP)
    for name in _listdir(tmp):
        owned = bool(_owner_runs(name))
        if not (owned and not _listdir(os.path.join(tmp, name))):
            found.append(Entry(os.path.join(tmp, name), owned))
    for sub, prefixes in _LEGACY:
        directory_ = os.path.join(root, sub) if sub else root
        found += [Entry(os.path.join(directory_, name), False)
                  for name in _listdir(directory_) if name.startswith(prefixes)]
    return found


def sweep(root: str) -> None:
    """Remove the temporary directories of writers that no longer run (any process may,
    at any time: a directory is only ever removed once its owner is gone)."""
    tmp = os.path.join(root, TMP)
    for name in _listdir(tmp):
        if _owner_runs(name) is False:
            _remove(os.path.join(tmp, name))


def collect(root: str) -> int:
    """``sweep``, and the ownerless entries of older versions: only while no other
    process writes (GC, with the store lock held exclusively); the bytes freed."""
    freed = 0
    for entry in entries(root):
        if not entry.owned:
            freed += du(entry.path)
            _remove(entry.path)
    return freed


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []
