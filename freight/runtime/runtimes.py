"""OCI runtimes: freight's built-in one, and external ones driven through their CLI.

A container's runtime is named at ``create`` (``--runtime NAME``) and kept in its
``HostConfig.Runtime``; nothing else in freight needs to know which one runs it.
Names come from freight's configuration file (``$FREIGHT_CONFIG``, the file that also
lists insecure registries), shaped as Docker's ``daemon.json``::

    {"runtimes": {"sandbox": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}},
     "default-runtime": "crun"}

``crun``, ``runc`` and ``runsc`` are known without configuration (found on PATH), as
Podman knows them; ``freight`` is the built-in runtime and the default.

An external runtime gets the container's bundle (``bundle``) with its overlay mounted
on the host at ``root.path``; ``start`` runs ``RUNTIME create`` (with a console socket
for ``-t``) and ``RUNTIME start``, and returns the container's PID as our child (we are
its subreaper), so the caller supervises it as it does a container of the built-in
runtime; ``cleanup`` runs ``RUNTIME delete`` and unmounts the overlay. ``exec_process``
runs ``RUNTIME exec --process process.json``.
"""

from __future__ import annotations

import json
import os

from freight.errors import CannotInvoke, CommandNotFound, FreightError
from freight.record import Record, field, replace
from freight.runtime import syscalls as sc
from freight.runtime.fsutil import copy_tree
from freight.runtime.process import lookup
from freight.runtime.rootfs import mount_snapshot, secure_join
from freight.runtime.spec import NETWORK_HOST, NETWORK_JOINED
from freight.settings import config_file, rootless

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from typing import Any

    from freight.runtime.handoff import Stdio
    from freight.runtime.spec import ContainerSpec

BUILTIN = "freight"
KNOWN = ("crun", "runc", "runsc")
_PR_SET_CHILD_SUBREAPER = 36
_HUGETLB = "/sys/fs/cgroup/hugetlb"


class Runtime(Record):
    """An external OCI runtime: its name, its program and the arguments before the command."""

    name: str
    path: str
    args: list[str] = field(default_factory=list)


def _config() -> dict[str, Any]:
    try:
        with open(config_file()) as f:
            config = json.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as err:
        raise FreightError(f"{config_file()}: {err}") from None
    return config if isinstance(config, dict) else {}


def _configured() -> dict[str, dict[str, Any]]:
    runtimes = _config().get("runtimes") or {}
    return runtimes if isinstance(runtimes, dict) else {}


def check_name(name: str | None) -> str:
    """The runtime a new container gets (the configured default when ``name`` is None);
    an unknown name fails with Docker's message."""
    if not name:
        name = str(_config().get("default-runtime") or BUILTIN)
    if name != BUILTIN and name not in KNOWN and name not in _configured():
        raise FreightError(f"unknown or invalid runtime name: {name}")
    return name


def check_host_config(name: str, host: dict[str, Any]) -> None:
    """Refuse at create what the runtime ``name`` cannot do. gVisor has a network stack of
    its own: it takes over the interfaces of the namespace freight made and wired for the
    container (a bridge network's), so it cannot share another container's, and published
    ports need that bridge address (the port proxy reaches the namespace, not gVisor)."""
    if not has_own_network(name):
        return
    mode = str(host.get("NetworkMode") or "")
    if mode.startswith("container:"):
        raise FreightError(f"runtime {name!r} cannot join another container's network ({mode}): it has a network "
                           "stack of its own")
    if rootless() and (host.get("PortBindings") or host.get("PublishAllPorts")):
        raise FreightError(f"runtime {name!r} does not support published ports (-p, -P) without a bridge network "
                           "(rootless)")


def has_own_network(name: str | None) -> bool:
    """Whether the runtime ``name`` brings its own network stack (gVisor's), which rules
    set in the container's network namespace (the embedded DNS's redirect) do not reach."""
    if not name or name == BUILTIN:
        return False
    entry = _configured().get(name) or {}
    return os.path.basename(str(entry.get("path") or name)) == "runsc"


def find(name: str | None) -> Runtime | None:
    """The external runtime called ``name``; None for the built-in one. One that is not
    installed fails with a line naming it."""
    if not name or name == BUILTIN:
        return None
    entry = _configured().get(name)
    if entry is None and name not in KNOWN:
        raise FreightError(f"unknown or invalid runtime name: {name}")
    import shutil  # only external runtimes need it

    program = str((entry or {}).get("path") or name)
    path = shutil.which(program)
    if path is None:
        raise FreightError(f'runtime "{name}": {program} is not installed (no such executable)')
    return Runtime(name, path, [str(a) for a in (entry or {}).get("runtimeArgs") or []])


def _kind(runtime: Runtime) -> str:
    return os.path.basename(runtime.path)


def check_host(runtime: Runtime) -> None:
    """crun and runc need, on a hybrid cgroup host, the hugetlb controller on a v1
    hierarchy at /sys/fs/cgroup/hugetlb (else crun refuses, or both make plain files)."""
    if _kind(runtime) not in ("crun", "runc"):
        return
    hybrid = os.path.isdir("/sys/fs/cgroup/unified") and os.path.isdir("/sys/fs/cgroup/memory")
    if hybrid and not os.path.ismount(_HUGETLB):
        raise FreightError(f"runtime {runtime.name!r} cannot run on this host's hybrid cgroups until the hugetlb "
                           f"controller is on a v1 hierarchy: mkdir -p {_HUGETLB} && mount -t cgroup -o hugetlb "
                           f"cgroup {_HUGETLB}")


def _run(runtime: Runtime, *args: str, stdio: tuple[int, int, int] | None = None, log: str | None = None,
         preexec: Callable[[], None] | None = None) -> None:
    """``RUNTIME [runtimeArgs] ARGS``; its error as a FreightError. With ``stdio`` (which
    the container inherits, so no pipe of ours may be among them) the runtime's own
    messages go to the file ``log``; ``preexec`` runs in the runtime's process first."""
    import subprocess  # only external runtimes need it

    argv = [runtime.path, *runtime.args, *([f"--log={log}"] if log else []), *args]
    std = stdio or (subprocess.DEVNULL, subprocess.DEVNULL, subprocess.PIPE)
    result = subprocess.run(argv, stdin=std[0], stdout=std[1], stderr=std[2], check=False, close_fds=True,
                            preexec_fn=preexec)
    if result.returncode != 0:
        text = result.stderr.decode(errors="replace") if result.stderr else ""
        if log and os.path.exists(log):
            with open(log, errors="replace") as f:
                text += f.read()
        raise runtime_error(runtime, text)


def runtime_error(runtime: Runtime, text: str) -> FreightError:
    """The runtime's message as one line, 127 or 126 when it says the command is missing
    or cannot be run (as Podman and containerd classify them)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = _message(lines[-1]) if lines else "failed"
    lowered = line.lower()
    if "not found" in lowered or "no such file" in lowered:
        return CommandNotFound(f"{runtime.name}: {line}")
    if "permission denied" in lowered:
        return CannotInvoke(f"{runtime.name}: {line}")
    return FreightError(f"{runtime.name}: {line}")


def _message(line: str) -> str:
    """The message of a log line: runc's and crun's JSON or logfmt records, or the line."""
    if line.startswith("{"):
        try:
            return str(json.loads(line).get("msg") or line)
        except ValueError:
            return line
    _, sep, rest = line.partition('msg="')
    return rest.rpartition('"')[0].replace('\\"', '"') if sep else line


def start(runtime: Runtime, spec: ContainerSpec, bundle_dir: str, stdio: Stdio, home: int | None = None) -> int:
    """Create and start the container of ``bundle_dir`` with ``runtime``; its PID, our child.

    ``spec`` is what the bundle says (its overlay is mounted here first); ``stdio``
    the container's streams, or (with ``tty_socket``) the socket its pty master goes to;
    ``home`` the network namespace to run the runtime in when the caller is in the
    container's (see ``_in_namespace``).
    """
    check_host(runtime)
    create_first = start_first = None
    if _kind(runtime) == "runsc":
        runtime = replace(runtime, args=[*runtime.args, f"--network={_gvisor_network(spec)}"])
        create_first = _in_namespace(home, hide_rmem_default=False)
        start_first = _in_namespace(home, hide_rmem_default=spec.network == NETWORK_JOINED)
    _mount_rootfs(spec)
    try:
        sc.prctl(_PR_SET_CHILD_SUBREAPER, 1)
        pid_file = f"{bundle_dir}/pid"
        listener = None
        args = ["create", "--bundle", bundle_dir, "--pid-file", pid_file]
        if stdio.tty_socket is not None:
            listener, path = _console_socket()
            args += ["--console-socket", path]
        try:
            streams = None if stdio.tty_socket is not None else (stdio.stdin, stdio.stdout, stdio.stderr)
            _run(runtime, *args, spec.id, stdio=streams, log=f"{bundle_dir}/runtime.log", preexec=create_first)
            if listener is not None:
                _pass_pty(listener, stdio)
        finally:
            if listener is not None:
                _close_console(listener, path)
        with open(pid_file) as f:
            pid = int(f.read().strip())
        _run(runtime, "start", spec.id, preexec=start_first)
    except BaseException:
        cleanup(runtime, spec.id, spec.merged)
        raise
    return pid


def _gvisor_network(spec: ContainerSpec) -> str:
    """gVisor's own network stack, given: the host's; the interfaces, addresses and routes of
    the namespace its supervisor made and wired (``sandbox``: runsc copies them into its stack
    and serves the veth's packets itself); or loopback only."""
    return {NETWORK_HOST: "host", NETWORK_JOINED: "sandbox"}.get(spec.network, "none")


def _in_namespace(home: int | None, hide_rmem_default: bool) -> Callable[[], None] | None:
    """What runs in gVisor's ``runsc`` process before it does.

    Back in the ``home`` network namespace: runsc's control socket is an abstract one, which
    lives in the network namespace of the ``create`` that makes it, and later commands
    (``exec``, ``kill``, ``state``, ``delete``) look for it from the host's.

    ``hide_rmem_default`` (for ``start``, which copies the container's network namespace into
    gVisor's stack): that namespace's /proc/sys/net/core hidden under an empty tmpfs, in a
    mount namespace of its own.
    runsc releases before 2024 tell the host's network namespace from others by
    /proc/sys/net/core/rmem_default, which Linux 6.7 and later shows in every namespace, and
    so refuse to copy any (gVisor issue 10704); the sandbox, made by ``create``, never sees
    this mount.
    """
    if home is None and not hide_rmem_default:
        return None

    def prepare() -> None:
        if hide_rmem_default:  # from the container's namespace: /proc/sys/net is a directory per namespace
            sc.unshare(sc.CLONE_NEWNS)
            sc.mount(None, "/", None, sc.MS_REC | sc.MS_SLAVE)
            sc.mount("tmpfs", "/proc/sys/net/core", "tmpfs", sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
        if home is not None:
            sc.setns(home, sc.CLONE_NEWNET)

    return prepare


def _mount_rootfs(spec: ContainerSpec) -> None:
    """The root at ``merged`` on the host (the built-in runtime mounts it in the
    container's own namespace instead), and the image's content into new volumes."""
    os.makedirs(spec.merged, exist_ok=True)
    for layer in spec.rootfs:
        mount_snapshot(layer, spec.merged)
    for m in spec.mounts:
        target = secure_join(spec.merged, m.target)
        if m.copy_up and os.path.isdir(target):
            copy_tree(target, m.source)


def _console_socket() -> tuple[socket.socket, str]:
    """A listening socket for the runtime's ``--console-socket``, in a private temporary
    folder (a bundle's path may be longer than a socket address may be)."""
    import socket  # only -t needs it
    import tempfile

    path = f"{tempfile.mkdtemp(prefix='freight-console-')}/socket"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(30)
    return listener, path


def _close_console(listener: socket.socket, path: str) -> None:
    listener.close()
    os.unlink(path)
    os.rmdir(os.path.dirname(path))


def _pass_pty(listener: socket.socket, stdio: Stdio) -> None:
    """Take the pty master the runtime sends and hand it on as the built-in runtime
    does (over ``stdio.tty_socket``), with the caller's window size."""
    import fcntl
    import socket
    import termios

    conn, _ = listener.accept()
    try:
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
    finally:
        conn.close()
    if not fds:
        raise FreightError("the runtime sent no terminal")
    master = fds[0]
    try:
        if stdio.winsize:
            fcntl.ioctl(master, termios.TIOCSWINSZ, stdio.winsize)
        assert stdio.tty_socket is not None
        carrier = socket.socket(fileno=os.dup(stdio.tty_socket))
        try:
            socket.send_fds(carrier, [b"pty"], [master])
        finally:
            carrier.close()
    finally:
        os.close(master)


def cleanup(runtime: Runtime, container_id: str, merged: str) -> None:
    """After the container exited (or failed to start): the runtime's helpers that are our
    children (runsc's sandbox and gofer, which its ``delete`` would wait seconds for while
    they are our zombies), the runtime's record of the container, and its root at ``merged``."""
    _kill_helpers(runtime)
    _reap_orphans(wait=2.0)
    try:
        _run(runtime, "delete", "--force", container_id)
    except FreightError:
        pass  # never created, or gone already
    _reap_orphans()
    _remove_default_cgroups(container_id)
    if os.path.ismount(merged):
        sc.umount2(merged, sc.MNT_DETACH)


def _remove_default_cgroups(container_id: str) -> None:
    """The cgroups a runtime made at its default place for a container given no
    cgroupsPath (a build step's) and left behind (runsc does): empty once it is gone."""
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        try:
            os.rmdir(f"/sys/fs/cgroup/{hierarchy}/{container_id}")
        except OSError:
            continue


def _kill_helpers(runtime: Runtime) -> None:
    """Our children still running the runtime's program once its container is deleted
    (runsc's sandbox and gofer may linger for seconds): nothing needs them any more."""
    program = os.path.realpath(runtime.path)
    me = str(os.getpid())
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = f.read().rpartition(")")[2].split()[1]
            if parent == me and os.path.realpath(f"/proc/{entry}/exe") == program:
                os.kill(int(entry), 9)
        except (OSError, IndexError):
            continue


def _reap_orphans(wait: float = 0.0) -> None:
    """The runtime's helper processes that ended as our children (runsc's sandbox and
    gofer), waiting up to ``wait`` seconds for those still on their way out."""
    import time  # only external runtimes need it

    deadline = time.monotonic() + wait
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.02)


def check_command(runtime: Runtime, container_pid: int, spec: ContainerSpec) -> None:
    """Before ``exec``: look ``spec``'s command up in the running container's root as the
    built-in runtime does, so that a missing or unrunnable one fails with the same message and
    127 or 126 (crun and runc exit 255 for both). Only for runtimes whose container process
    sees its root through ``/proc/PID/root`` (crun's and runc's; gVisor's is in its sandbox).

    The look-up runs in a forked child chrooted there: the container's absolute symlinks
    must resolve inside its root, and a chroot of our own would change every thread's."""
    if _kind(runtime) not in ("crun", "runc") or not spec.args:
        return
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: it reports on the pipe and never returns
        os.close(read)
        try:
            os.chroot(f"/proc/{container_pid}/root")
            try:
                os.chdir(spec.cwd or "/")
            except OSError:
                os.chdir("/")  # the runtime reports a missing working directory itself
            lookup(spec.args[0], spec.env)
        except FreightError as err:
            os.write(write, f"{err.exit_code} {err}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with open(read, "rb") as said:
        text = said.read().decode(errors="replace")
    os.waitpid(pid, 0)
    code, _, message = text.partition(" ")
    if code:
        raise (CommandNotFound if code == "127" else CannotInvoke)(message)


def exec_process(runtime: Runtime, container_id: str, process_file: str, stdio: Stdio) -> int:
    """``RUNTIME exec --process FILE ID`` as our child with the streams ``stdio`` (or a
    console socket, for ``-t``); its PID, whose exit status is the command's. Its own
    messages go, as JSON records, to ``FILE.log`` (``exec_failure`` reads them)."""
    check_host(runtime)
    if stdio.tty_socket is not None:
        return _exec_with_terminal(runtime, container_id, process_file, stdio)
    args = [runtime.path, *runtime.args, f"--log={process_file}.log", "--log-format=json", "exec", "--process",
            process_file, container_id]
    # posix_spawn, not Popen: the caller reaps it (a Popen object would race it for the status)
    return os.posix_spawn(args[0], args, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate((stdio.stdin, stdio.stdout, stdio.stderr))])


def _exec_with_terminal(runtime: Runtime, container_id: str, process_file: str, stdio: Stdio) -> int:
    """``exec -t``: runc and runsc take a console socket only from an ``exec --detach``, so
    every runtime gets one: it sends the pty master (which waits in the socket's backlog)
    and exits once the command runs; the command, orphaned then, is our child (we are a
    subreaper) and its PID is returned. A failure to start it raises the runtime's error."""
    sc.prctl(_PR_SET_CHILD_SUBREAPER, 1)
    pid_file = f"{process_file}.pid"
    listener, path = _console_socket()
    try:
        _run(runtime, "exec", "--process", process_file, "--detach", "--pid-file", pid_file, "--console-socket",
             path, container_id, log=f"{process_file}.log")
        _pass_pty(listener, stdio)
        with open(pid_file) as f:
            return int(f.read().strip())
    finally:
        _close_console(listener, path)
        for leftover in (pid_file, f"{process_file}.log"):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass


def exec_failure(runtime: Runtime, process_file: str) -> FreightError | None:
    """Once ``exec_process``'s runtime exited: its own error (a command not found), if any,
    and nothing left of the exec's files."""
    log = f"{process_file}.log"
    try:
        with open(log, errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    for path in (log, process_file):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    errors = [line for line in text.splitlines() if _is_error(line)]
    return runtime_error(runtime, errors[-1]) if errors else None


def _is_error(line: str) -> bool:
    """Whether the runtime's log record ``line`` is an error (JSON records have a level)."""
    if line.startswith("{"):
        try:
            return str(json.loads(line).get("level")) in ("error", "fatal")
        except ValueError:
            pass
    return "error" in line.lower() or "level=fatal" in line
