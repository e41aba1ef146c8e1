"""The user namespace an ordinary user's commands run in (rootless freight), as Podman's.

An ordinary user is root inside a user namespace that maps root to the user and
the IDs 1..N to the user's subordinate ranges (``/etc/subuid``, ``/etc/subgid``)
through the setuid ``newuidmap``/``newgidmap`` of the ``uidmap`` package; a user
without ranges gets the single-ID mapping (the user as root, nothing else). In
there, everything that needs root works as it does for root: unpacking layers
with their owners (store files belong to the mapped IDs, as Podman keeps them),
overlay mounts (the kernel's, 5.11 and later, or fuse-overlayfs), containers.

The namespace (with a mount namespace of its own) is kept by a pause process
whose pid is in the runtime directory; every command joins it, so a container
started by one command is reachable from the next, and mounts outlive the
command that made them. ``setns`` into a user namespace needs a single-threaded
process, so ``enter`` runs first thing in the CLI.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import signal
import subprocess

from freight.errors import FreightError
from freight.runtime import syscalls
from freight.settings import rootless, runtime_dir

CLONE_NEWUSER = 0x10000000
_PAUSE_NAME = "userns.pid"


class Ranges:
    """A user's subordinate range (start, count) from /etc/subuid or /etc/subgid, or None."""

    @staticmethod
    def find(path: str, name: str, ident: int) -> tuple[int, int] | None:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return None
        for line in lines:
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[0] in (name, str(ident)) and parts[1].isdigit() and parts[2].isdigit():
                return int(parts[1]), int(parts[2])
        return None


def enter() -> None:
    """Run the rest of this (single-threaded) process in the user's namespace.

    Nothing for root, or for a process already in a user namespace (a monitor, a
    command run by ``freight unshare``).
    """
    if os.geteuid() == 0 or rootless():
        return
    directory = runtime_dir()
    with open(os.path.join(directory, "userns.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pid = _alive(os.path.join(directory, _PAUSE_NAME))
        try:
            _join(pid if pid is not None else _start_pause(directory))
        except FileNotFoundError:  # it has just died
            _join(_start_pause(directory))


def _alive(pidfile: str) -> int | None:
    """The pause process named in ``pidfile`` when it still runs as this user, else None."""
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        st = os.stat(f"/proc/{pid}")
        same = os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid if st.st_uid == os.getuid() and same else None


def _start_pause(directory: str) -> int:
    """Fork the pause process: it makes the namespaces, this process maps its IDs, it waits."""
    unshared_r, unshared_w = os.pipe()
    mapped_r, mapped_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the pause process
        _pause(unshared_w, mapped_r)
    os.close(unshared_w)
    os.close(mapped_r)
    try:
        if os.read(unshared_r, 1) != b"1":
            raise FreightError("cannot create a user namespace (is user.max_user_namespaces 0?)")
        _map_ids(pid)
        os.write(mapped_w, b"1")
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(unshared_r)
        os.close(mapped_w)
    with open(os.path.join(directory, _PAUSE_NAME), "w") as f:
        f.write(f"{pid}\n")
    return pid


def _pause(unshared_w: int, mapped_r: int) -> None:  # pragma: no cover - runs in the child
    """The pause process: new user and mount namespaces, then nothing until killed."""
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, unshared_w)
        os.closerange(unshared_w + 1, mapped_r)
        os.closerange(mapped_r + 1, 65536)
        syscalls.unshare(CLONE_NEWUSER | syscalls.CLONE_NEWNS)
        os.write(unshared_w, b"1")
        if os.read(mapped_r, 1) != b"1":
            os._exit(1)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            signal.pause()
    finally:
        os._exit(1)


def _map_ids(pid: int) -> None:
    """Write the pause process's ID maps: the subordinate ranges, or the user alone."""
    uid, gid = os.getuid(), os.getgid()
    name = pwd.getpwuid(uid).pw_name
    users = Ranges.find("/etc/subuid", name, uid)
    groups = Ranges.find("/etc/subgid", name, uid)
    if users and groups:
        _helper("newuidmap", pid, uid, users)
        _helper("newgidmap", pid, gid, groups)
        return
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write(f"0 {uid} 1\n")
    with open(f"/proc/{pid}/setgroups", "w") as f:
        f.write("deny\n")
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write(f"0 {gid} 1\n")


def _helper(program: str, pid: int, ident: int, ranges: tuple[int, int]) -> None:
    path = shutil.which(program) or f"/usr/bin/{program}"
    if not os.path.exists(path):
        raise FreightError(f"rootless: {program} not found: install the uidmap package to use /etc/sub"
                           f"{'uid' if program == 'newuidmap' else 'gid'}")
    start, count = ranges
    done = subprocess.run([path, str(pid), "0", str(ident), "1", "1", str(start), str(count)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise FreightError(f"rootless: {program}: {reason}")


def _join(pid: int) -> None:
    """Join the pause process's user and mount namespaces, and become root in them."""
    cwd = os.getcwd()
    user = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    mnt = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        syscalls.setns(user, CLONE_NEWUSER)
        syscalls.setns(mnt, syscalls.CLONE_NEWNS)
    finally:
        os.close(user)
        os.close(mnt)
    rootless.cache_clear()
    rootless()  # learnt while /proc is in reach, for code that runs inside a container's root
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    try:
        os.setgroups([])
    except PermissionError:  # the single-ID mapping denies setgroups
        pass
    os.chdir(cwd)


def single_id() -> bool:
    """Whether this namespace maps only the user (no subordinate ranges)."""
    with open("/proc/self/uid_map") as f:
        return rootless() and sum(int(line.split()[2]) for line in f) == 1

