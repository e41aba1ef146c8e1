"""Inside the forked container process: namespaces, filesystem, identity, exec.

Imported only in the child (``launch``), so none of it costs the caller start-up
time. What runs after the pivot, when the host's Python is out of reach, must be
imported before it: this module's imports, and what ``_preload`` adds.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import signal
import struct
from collections.abc import Callable

from freight.runtime import process, rootfs, seccomp_filter
from freight.runtime import syscalls as sc
from freight.runtime.bundle import bundle_dir
from freight.runtime.handoff import HookSync, Stdio, namespace_flags
from freight.runtime.spec import NETWORK_HOST, NETWORK_JOINED, ContainerSpec

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import NoReturn

    from freight.runtime.hooks import Hook

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def loopback_up() -> None:
    """Bring ``lo`` up in the calling thread's network namespace, with one ioctl (no ``ip``
    binary, and no ``socket`` module: a container's process calls it after its pivot)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.socket(2, 2 | 0o2000000, 0)  # AF_INET, SOCK_DGRAM | SOCK_CLOEXEC
    if fd < 0:
        raise OSError(ctypes.get_errno(), "socket")
    try:
        ifreq = bytearray(struct.pack("16sH22x", b"lo", 0))
        fcntl.ioctl(fd, _SIOCGIFFLAGS, ifreq)
        flags = struct.unpack_from("H", ifreq, 16)[0] | _IFF_UP
        fcntl.ioctl(fd, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags))
    finally:
        os.close(fd)


def _console_opener(stdio: Stdio, console: bool = True) -> Callable[[str], None]:
    """Allocate the terminal in the container's devpts and send its master to the parent;
    ``console`` also binds it over /dev/console (not for ``exec``)."""
    def open_console(root: str) -> None:
        import socket  # this and termios: imported by _preload, only -t needs them
        import termios

        master = os.open(f"{root}/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        fcntl.ioctl(master, 0x40045431, struct.pack("i", 0))            # TIOCSPTLCK: unlock
        if stdio.winsize:
            fcntl.ioctl(master, termios.TIOCSWINSZ, stdio.winsize)
        number = struct.unpack("I", fcntl.ioctl(master, 0x80045430, b"\0" * 4))[0]  # TIOCGPTN
        sock = socket.socket(fileno=stdio.tty_socket)
        socket.send_fds(sock, [b"pty"], [master])
        sock.detach()
        os.close(master)
        slave = os.open(f"{root}/dev/pts/{number}", os.O_RDWR | os.O_NOCTTY)
        if console:
            sc.mount(f"{root}/dev/pts/{number}", f"{root}/dev/console", None, sc.MS_BIND)
        stdio.stdin = stdio.stdout = stdio.stderr = slave
    return open_console


def _set_stdio(stdio: Stdio, err_w: int) -> None:
    if stdio.tty_socket is not None:
        os.setsid()
        import termios  # imported by _preload

        fcntl.ioctl(stdio.stdin, termios.TIOCSCTTY, 0)
    for target, fd in enumerate((stdio.stdin, stdio.stdout, stdio.stderr)):
        os.dup2(fd, target)
    # Nothing else the caller had open (inheritable fds included) reaches the command.
    os.closerange(3, err_w)
    os.closerange(err_w + 1, 1 << 20)


def _preload(spec: ContainerSpec) -> seccomp_filter.Program | None:
    """Import now what only some containers need later (after the pivot the host's Python
    is out of reach), and prepare the container's seccomp program.

    Compiling a program (when the cache has none) needs libseccomp and its binding,
    and here that work overlaps with the parent's moving us into the cgroup.
    """
    if spec.ulimits:
        import resource  # noqa: F401 - process.apply_identity sets the limits
    if spec.tty:
        import socket  # noqa: F401 - the console opener sends the pty master
        import termios  # noqa: F401
    if spec.seccomp is None:
        return None
    return seccomp_filter.prepare(spec.seccomp)


_JOINED = (("cgroup", sc.CLONE_NEWCGROUP), ("ipc", sc.CLONE_NEWIPC), ("uts", sc.CLONE_NEWUTS),
           ("net", sc.CLONE_NEWNET), ("mnt", sc.CLONE_NEWNS))


def join_and_exec(spec: ContainerSpec, stdio: Stdio, err_w: int, target: int) -> NoReturn:
    """``exec``: enter the running container of PID ``target`` (already in its PID namespace)."""
    seccomp = _preload(spec)
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    if spec.cgroup is not None:
        spec.cgroup.add(0)
    fds = [(os.open(f"/proc/{target}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), flag)
           for name, flag in _JOINED]
    for fd, flag in fds:  # the mount namespace last: it also moves our root to the container's
        sc.setns(fd, flag)
        os.close(fd)
    if stdio.tty_socket is not None:
        _console_opener(stdio, console=False)("")
    _exec(spec, stdio, err_w, seccomp)


def setup_and_exec(spec: ContainerSpec, stdio: Stdio, err_w: int, joined_r: int | None,
                   hooks: dict[str, list[Hook]] | None = None,
                   sync: HookSync | None = None) -> NoReturn:
    """Everything from the fork to the exec. ``joined_r`` (with a cgroup) reads a byte once
    the parent moved us into the container's cgroup: that migration is slow on cgroup v1,
    so it runs while we build the filesystem, and only the cgroup namespace waits for it.
    ``hooks`` are the container's OCI hooks; ``sync`` (with createRuntime hooks) hands
    over to the parent once the mounts are done, before the pivot."""
    seccomp = _preload(spec)
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    _exit_if_orphaned(err_w)
    if spec.network == NETWORK_JOINED and spec.netns_path:
        _join_netns(spec.netns_path)
    sc.unshare(namespace_flags(spec) & ~sc.CLONE_NEWCGROUP)
    if not spec.uts_host:
        sc.sethostname(spec.hostname)
    hierarchies = rootfs.cgroup_hierarchies()
    before_pivot = _console_opener(stdio) if stdio.tty_socket is not None else None
    start_hooks = None
    if hooks:
        before_pivot, start_hooks = _hook_steps(spec, hooks, sync, before_pivot)
    rootfs.prepare(spec, before_pivot)
    if spec.network != NETWORK_HOST:
        loopback_up()
    if joined_r is not None and os.read(joined_r, 1) != b"j":
        os._exit(125)  # the parent could not set up the cgroup; it reports why
    sc.unshare(sc.CLONE_NEWCGROUP)  # rooted at the container's cgroup
    rootfs.mount_cgroupfs(hierarchies, readonly=not spec.privileged)
    _exec(spec, stdio, err_w, seccomp, start_hooks)


def _join_netns(path: str) -> None:
    """Enter the namespace the supervisor holds for us. A root supervisor forks us inside it
    already; a rootless one cannot enter it itself (it could not come back to the user's own)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(fd, sc.CLONE_NEWNET)
    finally:
        os.close(fd)


def _exit_if_orphaned(err_w: int) -> None:
    """Exit when the parent died before our parent-death signal was set: then nobody reads the
    error pipe (poll says POLLERR on a pipe without readers), and a container without its
    supervisor would hold its namespaces (and network) for ever."""
    poller = select.poll()
    poller.register(err_w, select.POLLOUT)
    if any(events & select.POLLERR for _, events in poller.poll(0)):
        os._exit(125)


def _hook_steps(spec: ContainerSpec, hooks: dict[str, list[Hook]], sync: HookSync | None,
                console: Callable[[str], None] | None
                ) -> tuple[Callable[[str], None], Callable[[], None] | None]:
    """What runs before the pivot (the console, the parent's createRuntime hooks, our
    createContainer hooks, in the host's filesystem) and just before exec (startContainer,
    in the container's), each hook given the OCI state with our host PID."""
    from freight.runtime.hooks import oci_state, run_hooks  # only CDI devices bring hooks (before the pivot)

    pid = int(os.readlink("/proc/self"))  # still the host's /proc: our PID as the host sees it

    def before_pivot(root: str) -> None:
        if console is not None:
            console(root)
        if sync is not None:
            sync.wait_for_parent()
        run_hooks("createContainer", hooks.get("createContainer"),
                  oci_state(spec.id, "creating", bundle_dir(spec.container_dir), pid))

    def before_exec() -> None:
        run_hooks("startContainer", hooks.get("startContainer"),
                  oci_state(spec.id, "created", bundle_dir(spec.container_dir), pid))

    return before_pivot, before_exec if hooks.get("startContainer") else None


def _exec(spec: ContainerSpec, stdio: Stdio, err_w: int, seccomp: seccomp_filter.Program | None = None,
          start_hooks: Callable[[], None] | None = None) -> NoReturn:
    """Identity, environment, stdio and the exec itself, inside the container's root;
    ``start_hooks`` (OCI startContainer) run once the command is found, still as root.

    The seccomp filter goes in as runc puts it: without no_new_privileges loading
    it needs CAP_SYS_ADMIN, so before the capabilities are dropped; with it, right
    before exec, so that as few of our own syscalls as possible must pass it."""
    user = process.resolve_user(spec.user, spec.group_add)
    env = process.final_env(spec, user.home)
    if spec.cwd and spec.cwd != "/":
        os.makedirs(spec.cwd, 0o755, exist_ok=True)
    path = process.lookup(spec.args[0], env)
    if start_hooks is not None:
        start_hooks()
    _set_stdio(stdio, err_w)
    if seccomp is not None and not spec.no_new_privileges:
        seccomp_filter.load(seccomp)
    process.apply_identity(spec, user)
    process.enter_workdir(spec.cwd or "/")
    process.reset_signals()
    os.umask(0o022)
    if seccomp is not None and spec.no_new_privileges:
        seccomp_filter.load(seccomp)
    process.exec_command(path, spec.args, env)
    raise AssertionError("unreachable")
