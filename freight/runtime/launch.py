"""Fork a container process: namespaces, filesystem, identity, exec.

The caller's PID namespace for children is switched to a new one just
around ``fork`` (then switched back with ``setns``), so the forked child is
PID 1 of the container without a second fork, and the caller stays able
to fork normally afterwards (rootless: ``pidfork``, as that setns is refused). The child does all its set-up itself and
reports a failure before exec over a close-on-exec pipe (``handoff.report``);
end-of-file on that pipe without a report means the exec happened.

Call this before starting any thread: a forked child of a threaded Python
process may deadlock.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from freight.errors import FreightError
from freight.runtime import syscalls as sc
from freight.runtime.bundle import bundle_dir
from freight.runtime.handoff import RUNTIME_HOOK_STAGES, HookSync, Stdio, close_fds, error_for, read_report, report
from freight.runtime.pidfork import fork_new_pidns
from freight.runtime.spec import ContainerSpec
from freight.settings import FUSE_OVERLAYFS, rootless

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import NoReturn

    from freight.runtime.cgroups import Cgroup
    from freight.runtime.hooks import Hook


def fork_container(spec: ContainerSpec, stdio: Stdio, join_pid: int | None = None,
                   make_cgroup: Callable[[], Cgroup | None] | None = None,
                   hooks: dict[str, list[Hook]] | None = None) -> tuple[int, int]:
    """Fork the container's first process; return its host PID and the error pipe's read end.

    With ``join_pid`` the process instead joins that running container's namespaces
    and cgroup (``exec``); ``spec`` then describes only the process. Otherwise the
    child is moved into ``spec.cgroup`` here, while it builds its filesystem; with
    ``make_cgroup`` that cgroup is even created then (and stored in ``spec.cgroup``).
    ``hooks`` (stage -> ``hooks.Hook`` list) are the OCI hooks up to startContainer:
    the createRuntime (and prestart) ones run here, in our namespaces, while the child
    waits after its mounts (see ``child``); a failing one kills the child and raises.
    """
    fuse = join_pid is None and _mount_fuse(spec)
    err_r, err_w = os.pipe()
    joined_r = joined_w = None
    if (spec.cgroup is not None or make_cgroup is not None) and join_pid is None:
        joined_r, joined_w = os.pipe()
    sync = None
    if hooks and join_pid is None and any(hooks.get(stage) for stage in RUNTIME_HOOK_STAGES):
        sync = HookSync()
    own_pidns = None
    in_userns = rootless()  # the setns back to our own PID namespace is refused: see pidfork, _relay
    new_pidns = join_pid is None and not spec.pid_host and in_userns
    if (join_pid is not None or not spec.pid_host) and not in_userns:
        own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if join_pid is None:
                sc.unshare(sc.CLONE_NEWPID)
            else:
                _join_pidns(join_pid)
        except OSError:
            close_fds(own_pidns, err_r, err_w, joined_r, joined_w)
            raise
    try:
        pid = fork_new_pidns() if new_pidns else os.fork()
    except OSError:
        _restore_pidns(own_pidns)
        close_fds(err_r, err_w, joined_r, joined_w)
        if fuse:
            sc.umount2(spec.merged, sc.MNT_DETACH)
        raise
    if pid == 0:
        close_fds(err_r, joined_w)
        if sync is not None:
            sync.child_side()
        _child(spec, stdio, err_w, join_pid, joined_r, hooks, sync)
    _restore_pidns(own_pidns)
    close_fds(err_w, joined_r)
    if fuse:
        from freight.runtime import fuseoverlay  # only fuse-overlayfs mounts need it

        fuseoverlay.detach_when_copied(pid, spec.merged)
    if sync is not None:
        sync.parent_side()
    try:
        if joined_w is not None:
            _join_cgroup(spec, pid, joined_w, err_r, make_cgroup)
    except BaseException:
        if sync is not None:
            sync.close()
        raise
    if sync is not None:
        _run_runtime_hooks(sync, spec, pid, err_r, hooks or {})
    return pid, err_r


def _mount_fuse(spec: ContainerSpec) -> bool:
    """A fuse-overlayfs root is mounted here, before the fork (see runtime/fuseoverlay.py);
    whether it was."""
    if not any(m.type == FUSE_OVERLAYFS for m in spec.rootfs):
        return False
    from freight.runtime import fuseoverlay  # only fuse-overlayfs mounts need it

    return fuseoverlay.mount_before_fork(spec.rootfs, spec.merged)


def _run_runtime_hooks(sync: HookSync, spec: ContainerSpec, pid: int, err_r: int,
                       hooks: dict[str, list[Hook]]) -> None:
    """Once the child's mounts are done, the hooks that run in our namespaces; a failing
    one kills the child."""
    try:
        if sync.child_ready():
            from freight.runtime.hooks import oci_state, run_hooks

            state = oci_state(spec.id, "creating", bundle_dir(spec.container_dir), pid)
            for stage in RUNTIME_HOOK_STAGES:
                run_hooks(stage, hooks.get(stage), state)
            sync.release_child()
    except BaseException:
        _abandon(pid, err_r)
        raise
    finally:
        sync.close()


def _join_cgroup(spec: ContainerSpec, pid: int, joined_w: int, err_r: int,
                 make_cgroup: Callable[[], Cgroup | None] | None) -> None:
    """Move the new child into its cgroup, then let it go on (or kill it on failure).

    A child whose set-up failed before it waited for us (a mount the kernel refused)
    has closed its end: its report, which ``wait_exec`` reads, says why."""
    try:
        if spec.cgroup is None:
            assert make_cgroup is not None  # the caller joins a cgroup only when there is one
            spec.cgroup = make_cgroup()
        if spec.cgroup is not None:  # rootless without a delegated subtree: none
            spec.cgroup.add(pid)
    except BaseException:
        os.close(joined_w)
        _abandon(pid, err_r)
        raise
    try:
        os.write(joined_w, b"j")
    except BrokenPipeError:
        pass
    finally:
        os.close(joined_w)


def _abandon(pid: int, err_r: int) -> None:
    """Kill and reap a child whose set-up we failed, and drop its error pipe."""
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    os.close(err_r)


def _join_pidns(pid: int) -> None:
    fd = os.open(f"/proc/{pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(fd, sc.CLONE_NEWPID)
    finally:
        os.close(fd)


def _relay(join_pid: int, err_w: int) -> None:
    """Rootless ``exec``: join the container's PID namespace here and fork the process
    into it; this one waits and leaves as it did (in the child: returns)."""
    _join_pidns(join_pid)
    pid = os.fork()
    if pid == 0:
        return
    os.close(err_w)
    status = os.waitpid(pid, 0)[1]
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _restore_pidns(fd: int | None) -> None:
    if fd is not None:
        sc.setns(fd, sc.CLONE_NEWPID)
        os.close(fd)


def wait_exec(pid: int, err_r: int) -> None:
    """Block until the container exec'd its command; raise its set-up error otherwise."""
    failure = read_report(err_r)
    if failure is not None:
        os.waitpid(pid, 0)
        raise error_for(*failure)


def _child(spec: ContainerSpec, stdio: Stdio, err_w: int, join_pid: int | None,
           joined_r: int | None, hooks: dict[str, list[Hook]] | None = None,
           sync: HookSync | None = None) -> NoReturn:
    """The container's PID 1 until it execs (or, with ``--init``, for its whole life)."""
    code = 125
    try:
        from freight.runtime import child  # only here, in the forked process: the caller never pays for it

        if join_pid is None:
            child.setup_and_exec(spec, stdio, err_w, joined_r, hooks, sync)
        else:
            if rootless():
                _relay(join_pid, err_w)
            child.join_and_exec(spec, stdio, err_w, join_pid)
    except FreightError as err:
        code = err.exit_code
        report(err_w, code, str(err))
    except BaseException as err:  # anything else is freight's own failure
        report(err_w, code, str(err) or type(err).__name__)
    os._exit(code)
