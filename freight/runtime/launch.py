"""Fork a container process: namespaces, filesystem, identity, exec.

The caller's PID namespace for children is switched to a new one just
around ``fork`` (then switched back with ``setns``), so the forked child is
PID 1 of the container without a second fork, and the caller stays able
to fork normally afterwards. The child does all its set-up itself and
reports a failure before exec over a close-on-exec pipe as
``<exit code> <message>``; end-of-file on that pipe means the exec happened.

Call this before starting any thread: a forked child of a threaded Python
process may deadlock.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from freight.errors import CannotInvoke, CommandNotFound, FreightError
from freight.runtime import syscalls as sc
from freight.runtime.spec import NETWORK_HOST, ContainerSpec

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any, NoReturn

_ERRORS = {126: CannotInvoke, 127: CommandNotFound}
_RUNTIME_STAGES = ("prestart", "createRuntime")  # OCI hooks run in our namespaces, before the pivot


class Stdio:
    """The fds the container gets as 0, 1 and 2 (``tty`` is a socket to send a pty master on).

    ``winsize`` (a packed ``struct winsize``) is the caller's terminal size, set on
    the container's terminal before its command starts, so the first ``stty size``
    already sees it.
    """

    def __init__(self, stdin: int, stdout: int, stderr: int, tty_socket: int | None = None,
                 winsize: bytes | None = None) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.tty_socket = tty_socket
        self.winsize = winsize


def _namespace_flags(spec: ContainerSpec) -> int:
    flags = sc.CLONE_NEWNS | sc.CLONE_NEWCGROUP
    if not spec.uts_host:
        flags |= sc.CLONE_NEWUTS
    if not spec.ipc_host:
        flags |= sc.CLONE_NEWIPC
    if spec.network != NETWORK_HOST:
        flags |= sc.CLONE_NEWNET
    return flags


def fork_container(spec: ContainerSpec, stdio: Stdio, join_pid: int | None = None,
                   make_cgroup: Callable[[], Any] | None = None,
                   hooks: dict[str, list[Any]] | None = None) -> tuple[int, int]:
    """Fork the container's first process; return its host PID and the error pipe's read end.

    With ``join_pid`` the process instead joins that running container's namespaces
    and cgroup (``exec``); ``spec`` then describes only the process. Otherwise the
    child is moved into ``spec.cgroup`` here, while it builds its filesystem; with
    ``make_cgroup`` that cgroup is even created then (and stored in ``spec.cgroup``).
    ``hooks`` (stage -> ``devices.Hook`` list) are the OCI hooks up to startContainer:
    the createRuntime (and prestart) ones run here, in our namespaces, while the child
    waits after its mounts (see ``child``); a failing one kills the child and raises.
    """
    err_r, err_w = os.pipe()
    joined_r = joined_w = None
    if (spec.cgroup is not None or make_cgroup is not None) and join_pid is None:
        joined_r, joined_w = os.pipe()
    sync = None
    if hooks and join_pid is None and any(hooks.get(stage) for stage in _RUNTIME_STAGES):
        sync = _HookSync()
    own_pidns = None
    if join_pid is not None or not spec.pid_host:
        own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if join_pid is None:
                sc.unshare(sc.CLONE_NEWPID)
            else:
                _join_pidns(join_pid)
        except OSError:
            _close(own_pidns, err_r, err_w, joined_r, joined_w)
            raise
    try:
        pid = os.fork()
    except OSError:
        _restore_pidns(own_pidns)
        _close(err_r, err_w, joined_r, joined_w)
        raise
    if pid == 0:
        _close(err_r, joined_w)
        if sync is not None:
            sync.child_side()
        _child(spec, stdio, err_w, join_pid, joined_r, hooks, sync)
    _restore_pidns(own_pidns)
    _close(err_w, joined_r)
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
        sync.run_hooks(spec, pid, err_r, hooks or {})
    return pid, err_r


class _HookSync:
    """Two pipes: the child says its mounts are done ("m"), we say the hooks ran ("h")."""

    def __init__(self) -> None:
        self.ready_r, self.ready_w = os.pipe()
        self.go_r, self.go_w = os.pipe()

    def child_side(self) -> None:
        _close(self.ready_r, self.go_w)

    def parent_side(self) -> None:
        _close(self.ready_w, self.go_r)

    def close(self) -> None:
        """The parent's ends."""
        _close(self.ready_r, self.go_w)

    def wait_for_parent(self) -> None:
        """In the child, before its pivot: hand over, and go on only once the hooks passed."""
        os.write(self.ready_w, b"m")
        if os.read(self.go_r, 1) != b"h":
            os._exit(125)  # a hook failed: the parent reports it
        _close(self.ready_w, self.go_r)

    def run_hooks(self, spec: ContainerSpec, pid: int, err_r: int,
                  hooks: dict[str, list[Any]]) -> None:
        """In the parent: once the child's mounts are done, the runtime-namespace hooks."""
        try:
            if os.read(self.ready_r, 1) != b"m":
                return  # the child failed first: wait_exec reports its error
            from freight.runtime.devices import oci_state, run_hooks

            state = oci_state(spec.id, "creating", spec.container_dir, pid)
            for stage in _RUNTIME_STAGES:
                run_hooks(stage, hooks.get(stage), state)
            os.write(self.go_w, b"h")
        except BaseException:
            _abandon(pid, err_r)
            raise
        finally:
            self.close()


def _join_cgroup(spec: ContainerSpec, pid: int, joined_w: int, err_r: int,
                 make_cgroup: Callable[[], Any] | None) -> None:
    """Move the new child into its cgroup, then let it go on (or kill it on failure)."""
    try:
        if spec.cgroup is None and make_cgroup is not None:
            spec.cgroup = make_cgroup()
        spec.cgroup.add(pid)
        os.write(joined_w, b"j")
    except BaseException:
        _abandon(pid, err_r)
        raise
    finally:
        os.close(joined_w)


def _abandon(pid: int, err_r: int) -> None:
    """Kill and reap a child whose set-up we failed, and drop its error pipe."""
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    os.close(err_r)


def _close(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            os.close(fd)


def _join_pidns(pid: int) -> None:
    fd = os.open(f"/proc/{pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(fd, sc.CLONE_NEWPID)
    finally:
        os.close(fd)


def _restore_pidns(fd: int | None) -> None:
    if fd is not None:
        sc.setns(fd, sc.CLONE_NEWPID)
        os.close(fd)


def wait_exec(pid: int, err_r: int) -> None:
    """Block until the container exec'd its command; raise its set-up error otherwise."""
    chunks = []
    while chunk := os.read(err_r, 65536):
        chunks.append(chunk)
    os.close(err_r)
    if not chunks:
        return
    os.waitpid(pid, 0)
    code, _, message = b"".join(chunks).decode(errors="replace").partition(" ")
    raise error_for(int(code), message)


def error_for(code: int, message: str) -> FreightError:
    """The error class for an exit code a container set-up reported (126, 127, else 125)."""
    return _ERRORS.get(code, FreightError)(message)


def exit_code(status: int) -> int:
    """A wait status as Docker reports it: the exit code, or 128+N for signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _child(spec: ContainerSpec, stdio: Stdio, err_w: int, join_pid: int | None,
           joined_r: int | None, hooks: dict[str, list[Any]] | None = None,
           sync: _HookSync | None = None) -> NoReturn:
    """The container's PID 1 until it execs (or, with ``--init``, for its whole life)."""
    code = 125
    try:
        from freight.runtime import child

        if join_pid is None:
            child.setup_and_exec(spec, stdio, err_w, joined_r, hooks, sync)
        else:
            child.join_and_exec(spec, stdio, err_w, join_pid)
    except FreightError as err:
        code = err.exit_code
        _report(err_w, code, str(err))
    except BaseException as err:  # anything else is freight's own failure
        _report(err_w, code, str(err) or type(err).__name__)
    os._exit(code)


def _report(err_w: int, code: int, message: str) -> None:
    try:
        os.write(err_w, f"{code} {message}".encode())
    except OSError:
        pass
