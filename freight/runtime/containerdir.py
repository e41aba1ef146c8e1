"""A container's directory, ``<root>/containers/<id>``: who owns it, and removing it.

The process that creates a container holds an ``flock`` on its directory from
the ``mkdir`` until the container's row is committed (``containers/`` itself is
locked shared meanwhile, so that no one locks the new directory first), and
whoever removes a container holds it while removing. So a directory without a
row whose lock is free was left by a creator killed before its commit (``freight
run`` killed while it started the container, or a remover killed half-way):
``sweep`` removes it with its cgroups and the anonymous volumes it was made with,
and two removers never race each other.
"""

from __future__ import annotations

import fcntl
import os

from freight.runtime.fsutil import remove_tree
from freight.settings import PRIVATE

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store import Store

ANONYMOUS_VOLUMES = "anonymous-volumes"  # the volumes to remove with a directory that never got its row
_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def create(root: str, cid: str, anonymous_volumes: list[str]) -> int:
    """Make the container's directory; return the fd that holds its lock (close it once the
    row is committed)."""
    parent = f"{root}/containers"
    try:
        os.mkdir(parent, PRIVATE)
    except FileExistsError:
        pass
    parent_fd = os.open(parent, _OPEN)
    try:
        fcntl.flock(parent_fd, fcntl.LOCK_SH)
        os.mkdir(f"{parent}/{cid}", PRIVATE)
        fd = os.open(f"{parent}/{cid}", _OPEN)
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(parent_fd)
    if anonymous_volumes:
        with open(f"{parent}/{cid}/{ANONYMOUS_VOLUMES}", "w") as f:
            f.write("".join(f"{name}\n" for name in anonymous_volumes))
    return fd


def lock(path: str) -> int | None:
    """Wait for and hold the lock of an existing container directory (None: there is none)."""
    try:
        fd = os.open(path, _OPEN)
    except FileNotFoundError:
        return None
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def remove(path: str) -> None:
    """Remove a container's files; hold its lock. A ``cp`` killed while it copied from the
    stopped container may have left its overlay mounted there: detached first, or removing
    would go on into the volumes bound below it."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        if name.startswith("cp."):
            _detach(f"{path}/{name}")
    remove_tree(path)


def _detach(path: str) -> None:
    from freight.runtime import syscalls as sc  # ctypes: only for a copy's leftover mount

    try:
        sc.umount2(path, sc.MNT_DETACH)
    except OSError:
        pass  # not a mount point (any more)


def sweep(store: Store, known: set[str]) -> None:
    """Remove the directories without a row (none of ``known``) that no live process owns."""
    parent = f"{store.root_path}/containers"
    try:
        strays = [name for name in os.listdir(parent) if name not in known and _is_id(name)]
    except FileNotFoundError:
        return
    if not strays:
        return
    for cid, fd in _abandoned(parent, strays):
        try:
            if not store.db.execute("SELECT 1 FROM containers WHERE id = ?", (cid,)).fetchone():
                _remove_abandoned(store, cid)
        finally:
            os.close(fd)


def _abandoned(parent: str, names: list[str]) -> list[tuple[str, int]]:
    """The directories among ``names`` whose lock is free, each with the fd now holding it."""
    parent_fd = os.open(parent, _OPEN)
    found = []
    try:
        fcntl.flock(parent_fd, fcntl.LOCK_EX)  # no creator between its mkdir and its lock
        for name in names:
            try:
                fd = os.open(f"{parent}/{name}", _OPEN)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            found.append((name, fd))
    finally:
        os.close(parent_fd)
    return found


def _remove_abandoned(store: Store, cid: str) -> None:
    from freight.runtime import cgroups  # only for the directory of a killed creator

    path = f"{store.root_path}/containers/{cid}"
    cgroup = cgroups.load(cid)
    if cgroup is not None:
        cgroup.destroy()
    try:
        with open(f"{path}/{ANONYMOUS_VOLUMES}") as f:
            remove_unrecorded_volumes(store, f.read().split())
    except FileNotFoundError:
        pass
    remove(path)


def remove_unrecorded_volumes(store: Store, names: list[str]) -> None:
    """Remove the directories of a container's anonymous volumes that have no row: those of
    a container that never got its own (they are recorded with it, in one transaction)."""
    for name in names:
        if _is_id(name) and not store.db.execute("SELECT 1 FROM volumes WHERE name = ?", (name,)).fetchone():
            remove_tree(f"{store.root_path}/volumes/{name}")


def _is_id(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)
