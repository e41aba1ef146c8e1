"""The container's filesystem, built inside its new mount namespace.

Everything here runs in the forked container process before exec. Because
the overlay and every other mount live only in the container's own mount
namespace, they vanish with its last process: a stopped container leaves no
mount behind on the host. Paths inside the image are resolved with
``secure_join`` so a symlink in an image cannot point a mount at the host.
"""

from __future__ import annotations

import errno
import os
import stat

from freight.errors import FreightError
from freight.runtime import syscalls as sc
from freight.runtime.fsutil import copy_tree
from freight.runtime.spec import NETWORK_HOST, ContainerSpec, DeviceNode, shm_size_option
from freight.settings import FUSE_OVERLAYFS, rootless

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable

    from freight.store.snapshots import SnapshotMount

# Docker's default /dev devices (major, minor); all mode 0666.
DEFAULT_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
                   ("urandom", 1, 9), ("tty", 5, 0))
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
             ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore"))
# moby's oci defaults: masked (hidden) and read-only paths.
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
HOST_FILES = ("hosts", "hostname", "resolv.conf")

_NOSUID_NODEV_NOEXEC = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


def secure_join(root: str, path: str) -> str:
    """``root`` + ``path`` with every symlink resolved as if ``root`` were ``/``."""
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root + "/" + "/".join(resolved + [part])
        try:
            target = os.readlink(candidate)
        except OSError:
            resolved.append(part)
            continue
        hops += 1
        if hops > 255:
            raise OSError(40, f"too many levels of symbolic links in {path}")
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p] + parts
    return root + "/" + "/".join(resolved)


def _ensure_target(target: str, is_dir: bool) -> None:
    if is_dir:
        os.makedirs(target, exist_ok=True)
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if not os.path.lexists(target):
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))


def _bind(source: str, target: str, readonly: bool, flags: int = 0) -> None:
    sc.mount(source, target, None, sc.MS_BIND | sc.MS_REC)
    if readonly or flags:
        sc.mount(None, target, None,
                 sc.MS_BIND | sc.MS_REMOUNT | flags | (sc.MS_RDONLY if readonly else 0))


def mount_snapshot(m: SnapshotMount, target: str) -> None:
    """Mount at ``target`` (an absolute path) what the snapshot store handed out, from its
    ``cwd`` (then back where this process was)."""
    if m.type == "bind":
        _bind(m.source, target, m.readonly)
        return
    if m.type == FUSE_OVERLAYFS:
        from freight.runtime import fuseoverlay  # only fuse-overlayfs mounts need it

        fuseoverlay.mount(m, target)
        return
    here = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        if m.cwd:
            os.chdir(m.cwd)
        sc.mount(m.source, target, m.type, 0, m.data)
    finally:
        os.fchdir(here)
        os.close(here)


def _mount_dev(spec: ContainerSpec, root: str) -> None:
    dev = root + "/dev"
    os.makedirs(dev, exist_ok=True)
    sc.mount("tmpfs", dev, "tmpfs", sc.MS_NOSUID | sc.MS_STRICTATIME, "mode=755,size=65536k")
    in_userns = rootless()
    for name, major, minor in DEFAULT_DEVICES:
        if in_userns:  # mknod is refused in a user namespace: the host's node, bound (as runc does)
            os.close(os.open(f"{dev}/{name}", os.O_CREAT | os.O_WRONLY, 0o666))
            _bind(f"/dev/{name}", f"{dev}/{name}", False)
            continue
        os.mknod(f"{dev}/{name}", stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod(f"{dev}/{name}", 0o666)
    for node in spec.devices:
        path = secure_join(root, node.path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.lexists(path):
            os.unlink(path)
        if in_userns:  # the host's node, bound (as rootless Podman does): its owner and mode stay the host's
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o666))
            _bind(host_node(node), path, False)
            continue
        kind = stat.S_IFCHR if node.kind == "c" else stat.S_IFBLK
        os.mknod(path, kind | node.mode, os.makedev(node.major, node.minor))
        os.chmod(path, node.mode)
        os.chown(path, node.uid, node.gid)
    for name, target in DEV_LINKS:
        os.symlink(target, f"{dev}/{name}")
    for sub in ("pts", "shm", "mqueue"):
        os.mkdir(f"{dev}/{sub}", 0o755)
    try:
        sc.mount("devpts", f"{dev}/pts", "devpts", sc.MS_NOSUID | sc.MS_NOEXEC,
                 "newinstance,ptmxmode=0666,mode=0620,gid=5")
    except OSError as err:  # a user namespace without group 5 (rootless with a single ID), as Podman
        if err.errno != errno.EINVAL or not in_userns:
            raise
        sc.mount("devpts", f"{dev}/pts", "devpts", sc.MS_NOSUID | sc.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
    if spec.ipc_host:
        _bind("/dev/shm", f"{dev}/shm", False)
    else:
        sc.mount("shm", f"{dev}/shm", "tmpfs", _NOSUID_NODEV_NOEXEC, f"mode=1777,{shm_size_option(spec.shm_size)}")
        sc.mount("mqueue", f"{dev}/mqueue", "mqueue", _NOSUID_NODEV_NOEXEC)
    if spec.tty:
        os.close(os.open(f"{dev}/console", os.O_CREAT | os.O_WRONLY, 0o600))


def host_node(node: DeviceNode) -> str:
    """The host's /dev node of ``node``'s type and numbers (sysfs names it), for a bind."""
    kind = "char" if node.kind == "c" else "block"
    try:
        with open(f"/sys/dev/{kind}/{node.major}:{node.minor}/uevent") as f:
            name = next(line[8:].strip() for line in f if line.startswith("DEVNAME="))
        st = os.stat(f"/dev/{name}")
    except (OSError, StopIteration):
        st = None
    if st is None or st.st_rdev != os.makedev(node.major, node.minor):
        raise FreightError(f"rootless: --device {node.path}: no host node of {kind} device "
                           f"{node.major}:{node.minor} under /dev to bind (device nodes cannot be made without root)")
    return f"/dev/{name}"


def cgroup_hierarchies() -> list[tuple[str, str | None]]:
    """The host's /sys/fs/cgroup entries as (name, symlink target or None); [] for cgroup2.

    Read before the pivot: afterwards only the container's own /sys is visible.
    """
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return []
    base = os.stat("/sys/fs/cgroup").st_dev
    found: list[tuple[str, str | None]] = []
    for entry in os.scandir("/sys/fs/cgroup"):
        if entry.is_symlink():
            found.append((entry.name, os.readlink(entry.path)))
        elif entry.is_dir() and entry.stat().st_dev != base:  # only hierarchies mounted here
            found.append((entry.name, None))
    return found


def mount_cgroupfs(hierarchies: list[tuple[str, str | None]], readonly: bool) -> None:
    """/sys/fs/cgroup as Docker shows it: cgroup2, or a tmpfs of the v1 hierarchies.

    Called inside the container's new cgroup namespace, so each shows the container's
    cgroup as its root.
    """
    target = "/sys/fs/cgroup"
    ro = sc.MS_RDONLY if readonly else 0
    if not hierarchies:
        sc.mount("cgroup", target, "cgroup2", _NOSUID_NODEV_NOEXEC | ro)
        return
    sc.mount("tmpfs", target, "tmpfs", _NOSUID_NODEV_NOEXEC, "mode=755")
    for name, link in hierarchies:
        if link is not None:
            os.symlink(link, f"{target}/{name}")
            continue
        os.mkdir(f"{target}/{name}")
        fstype, data = ("cgroup2", None) if name == "unified" else ("cgroup", name)
        if name == "systemd":
            data = "none,name=systemd"
        try:
            # Mount, then make this mount read-only: a read-only mount that happened to
            # create the hierarchy's superblock would make it read-only for the host too.
            sc.mount("cgroup", f"{target}/{name}", fstype, _NOSUID_NODEV_NOEXEC, data)
            if ro:
                sc.mount(None, f"{target}/{name}", None, sc.MS_BIND | sc.MS_REMOUNT | ro | _NOSUID_NODEV_NOEXEC)
        except OSError:
            os.rmdir(f"{target}/{name}")
    if readonly:
        sc.mount(None, target, None, sc.MS_REMOUNT | _NOSUID_NODEV_NOEXEC | sc.MS_RDONLY, "mode=755")


def _mount_kernel_filesystems(spec: ContainerSpec, root: str) -> None:
    for sub in ("proc", "sys"):
        os.makedirs(f"{root}/{sub}", exist_ok=True)
    sc.mount("proc", f"{root}/proc", "proc", _NOSUID_NODEV_NOEXEC)
    readonly = 0 if spec.privileged else sc.MS_RDONLY
    if spec.network == NETWORK_HOST and not spec.privileged:
        _bind("/sys", f"{root}/sys", True, _NOSUID_NODEV_NOEXEC)
    else:
        sc.mount("sysfs", f"{root}/sys", "sysfs", _NOSUID_NODEV_NOEXEC | readonly)
    _mount_dev(spec, root)


def _mount_host_files(spec: ContainerSpec, root: str) -> None:
    """/etc/hosts, /etc/hostname and /etc/resolv.conf from the container dir."""
    user_targets = {m.target for m in spec.mounts}
    for name in HOST_FILES:
        if f"/etc/{name}" in user_targets:
            continue
        target = secure_join(root, f"/etc/{name}")
        _ensure_target(target, False)
        _bind(f"{spec.container_dir}/{name}", target, False)


def _mount_user(spec: ContainerSpec, root: str) -> None:
    for m in sorted(spec.mounts, key=lambda m: m.target.rstrip("/").count("/")):
        target = secure_join(root, m.target)
        if m.type == "tmpfs":
            _ensure_target(target, True)
            _mount_tmpfs(target, m.target, m.flags | (sc.MS_RDONLY if m.readonly else 0), m.data)
        else:
            if m.copy_up and os.path.isdir(target):
                copy_tree(target, m.source)
            _ensure_target(target, os.path.isdir(m.source))
            _bind(m.source, target, m.readonly, m.flags)


def _mount_tmpfs(target: str, shown: str, flags: int, data: str) -> None:
    """A ``--tmpfs`` mount; options the kernel refuses (``size=abc``) fail as in Docker (runc's words)."""
    try:
        sc.mount("tmpfs", target, "tmpfs", flags, data or None)
    except OSError as err:
        raise FreightError(f'error mounting "tmpfs" to rootfs at "{shown}": mount tmpfs:{shown}, '
                           f"flags: {flags:#x}, data: {data}: {os.strerror(err.errno or 0).lower()}") from None


def _mask_paths() -> None:
    for path in MASKED_PATHS:
        try:
            if os.path.isdir(path):
                sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
            elif os.path.exists(path):
                sc.mount("/dev/null", path, None, sc.MS_BIND)
        except OSError:
            pass
    for path in READONLY_PATHS:
        if os.path.exists(path):
            _bind(path, path, True, sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)


def _pivot(root: str) -> None:
    """Make ``root`` the new ``/`` and detach the old one (runc's pivot_root(".", ".") trick)."""
    os.chdir(root)
    sc.pivot_root(".", ".")
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def prepare(spec: ContainerSpec, open_console: Callable[[str], None] | None = None) -> None:
    """Build the whole filesystem and pivot into it.

    ``open_console(root)`` is called once /dev/pts exists (for ``-t``), before
    the pivot, so the terminal is allocated in the container's own devpts.
    """
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    for m in spec.rootfs:
        if m.type != FUSE_OVERLAYFS:  # that one the parent mounted before the fork (see launch)
            mount_snapshot(m, spec.merged)
        elif not os.path.ismount(spec.merged):
            raise FreightError("the container's fuse-overlayfs root is not mounted")
    root = spec.merged
    _mount_kernel_filesystems(spec, root)
    _mount_host_files(spec, root)
    _mount_user(spec, root)
    if open_console is not None:
        open_console(root)
    _pivot(root)
    if spec.masked_paths and not spec.privileged:
        _mask_paths()
    if spec.readonly_rootfs:
        sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)
