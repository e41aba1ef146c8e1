"""Overlay mounts through fuse-overlayfs (``settings.storage_driver``), as rootless Podman makes
them where the kernel refuses overlayfs in a user namespace.

The program mounts, then puts itself in the background to serve the mount (it is never
run in the foreground: nothing here waits for it), and leaves when its mount goes: the
last unmount of it aborts the FUSE connection. It never inherits a descriptor of ours
(a container's pipes would then never reach end-of-file). It is unmounted with
``umount2`` in the user namespace (``fusermount3 -u`` is setuid, which counts for nothing
there).

A container's root is mounted by the process that forks the container (its monitor, a
build step), in that process's mount namespace and before the fork, so the FUSE server
starts from that process and stays outside the container's PID namespace and cgroup (where a
``--pids-limit`` would count it, ``pause`` would freeze it under its own clients, and the
container's end would kill it first); the container's new mount namespace copies the
mount, and once it has, ``detach_when_copied`` unmounts the original: the mount then
lives only as long as the container's namespace, as the kernel's overlay does, and its
server leaves with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

from freight.errors import FreightError
from freight.runtime import syscalls as sc
from freight.settings import FUSE_OVERLAYFS

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store.snapshots import SnapshotMount

_COPY_WAIT = 30.0  # seconds a child may take to make its mount namespace


def mount(m: SnapshotMount, target: str) -> None:
    """Mount ``m`` (options relative to ``m.cwd``) at ``target`` with fuse-overlayfs."""
    program = shutil.which(FUSE_OVERLAYFS) or f"/usr/bin/{FUSE_OVERLAYFS}"
    if not os.path.exists(program):
        raise FreightError("fuse-overlayfs not found: install the fuse-overlayfs package "
                           "(or set the storage driver to overlay2)")
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        raise FreightError("fuse-overlayfs: /dev/fuse cannot be opened by this user (mode "
                           f"{os.stat('/dev/fuse').st_mode & 0o777:o} on this machine; most distributions make it 0666)"
                           if os.path.exists("/dev/fuse") else "fuse-overlayfs: /dev/fuse does not exist")
    with tempfile.TemporaryFile() as errors:
        done = subprocess.run([program, "-o", m.data, target], cwd=m.cwd or None, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=errors, close_fds=True)
        if done.returncode != 0:
            errors.seek(0)
            lines = [line for line in errors.read().decode(errors="replace").splitlines()
                     if line and not line.startswith("unknown argument ignored")]
            raise FreightError(f"fuse-overlayfs: {lines[-1] if lines else f'exit status {done.returncode}'}")


def is_fuse(m: SnapshotMount) -> bool:
    return m.type == FUSE_OVERLAYFS


def mount_before_fork(rootfs: list[SnapshotMount], merged: str) -> bool:
    """Mount ``rootfs``'s fuse-overlayfs mounts at ``merged`` here (see the module docstring);
    whether there were any."""
    fuse = [m for m in rootfs if is_fuse(m)]
    for m in fuse:
        os.makedirs(merged, exist_ok=True)
        mount(m, merged)
    return bool(fuse)


def detach_when_copied(pid: int, merged: str) -> None:
    """Unmount ``merged`` here once the child ``pid`` has a mount namespace of its own (a copy
    holding the mount), or has died; it stays mounted in the child's namespace."""
    mine = os.readlink("/proc/self/ns/mnt")
    deadline = time.monotonic() + _COPY_WAIT
    while time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") != mine:
                break
        except OSError:  # gone (a zombie has no namespaces)
            break
        time.sleep(0.001)
    sc.umount2(merged, sc.MNT_DETACH)
