"""A RUN step's container, through the runtime's launcher.

``run_container(req, on_line)`` lays out the container directory (``upper``,
``work``, ``merged`` and the hosts files), forks the container with
``freight.runtime.launch.fork_container`` over the step's lower snapshot
dirs, streams its output line by line and returns its exit code. The
container's mount namespace dies with it, so no mount outlives the step.

Forking is only safe from a process with one thread. When the builder runs
stages on threads, ``run_container`` runs the same code in a child Python
process (``python -m freight.builder.runcontainer``), which forks from its own
single main thread.

Afterwards ``clean_stubs`` removes what the runtime had to create as mount
points (``/etc/hosts`` in an image without one, a missing mount target) so
they do not end up in the step's layer, as BuildKit does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import zlib

from freight.builder.fsview import RootFS, split
from freight.errors import FreightError
from freight.record import Record, as_dict, field
from freight.runtime import bundle, runtimes
from freight.runtime.handoff import Stdio
from freight.runtime.launch import fork_container, wait_exec
from freight.runtime.seccomp import default_profile
from freight.runtime.signals import exit_code
from freight.runtime.spec import NETWORK_HOST, NETWORK_PRIVATE, ContainerSpec, Mount
from freight.runtime.starter import end_process
from freight.store.snapshots import SnapshotMount
from freight.store.tarformat import opaque_xattr

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

HOSTS = "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n"
HOSTNAME = "buildkitsandbox"
_HOST_FILES = ("etc/hosts", "etc/hostname", "etc/resolv.conf")


class MountSpec(Record):
    type: str                   # "bind" or "tmpfs"
    target: str
    source: str = ""
    readonly: bool = False
    data: str = ""


class RunRequest(Record):
    """One RUN step's container, as the child process that starts it reads it (JSON)."""

    container_dir: str
    rootfs: Sequence[SnapshotMount]  # what the snapshot store handed out (``Snapshots.prepare``)
    args: list[str]
    env: list[str]
    cwd: str = "/"
    user: str = ""
    network: str = "default"    # default (the host's), host, none
    mounts: Sequence[MountSpec] = field(default_factory=tuple)
    runtime: str = ""           # an OCI runtime's name ("": the configured default)


class RunSetupError(Exception):
    """The container could not be started (the runtime's message)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _prepare_dir(req: RunRequest) -> None:
    for sub in ("upper", "work", "merged"):
        os.makedirs(f"{req.container_dir}/{sub}", exist_ok=True)
    with open(f"{req.container_dir}/hosts", "w") as f:
        f.write(HOSTS)
    with open(f"{req.container_dir}/hostname", "w") as f:
        f.write(HOSTNAME + "\n")
    try:
        shutil.copyfile("/etc/resolv.conf", f"{req.container_dir}/resolv.conf")
    except OSError:
        open(f"{req.container_dir}/resolv.conf", "w").close()


def _spec(req: RunRequest) -> ContainerSpec:
    """Docker's default capabilities and seccomp profile, as BuildKit gives a RUN step."""
    mounts = [Mount(type=m.type, target=m.target, source=m.source, readonly=m.readonly, data=m.data)
              for m in req.mounts]
    network = NETWORK_PRIVATE if req.network == "none" else NETWORK_HOST
    spec = ContainerSpec(
        id=_step_id(req), container_dir=req.container_dir,
        rootfs=list(req.rootfs), args=req.args, env=req.env, cwd=req.cwd or "/", user=req.user,
        hostname=HOSTNAME, network=network, uts_host=False, mounts=mounts)
    spec.seccomp = default_profile(spec.caps)
    return spec


def _fork(req: RunRequest, out_fd: int) -> int:
    """Fork the container from this (single-threaded) process, output to ``out_fd``; its PID."""
    try:  # the step's bundle: the runtime reads what it runs from there
        runtime = runtimes.find(runtimes.check_name(req.runtime or None))
        spec = _spec(req)
        path = bundle.write(spec)
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            if runtime is not None:
                return runtimes.start(runtime, spec, path, Stdio(null, out_fd, out_fd))
            pid, err_r = fork_container(bundle.load(path, spec.id).spec, Stdio(null, out_fd, out_fd))
        finally:
            os.close(null)
    except FreightError as err:
        raise RunSetupError(str(err), err.exit_code) from None
    try:
        wait_exec(pid, err_r)
    except FreightError as err:
        raise RunSetupError(str(err), err.exit_code) from None
    return pid


def _wait(pid: int) -> int:
    return exit_code(os.waitpid(pid, 0)[1])


def _pump(fd: int, on_line: Callable[[bytes], None]) -> None:
    """Hand each output line to ``on_line`` until the container closes its end."""
    pending = b""
    try:
        while chunk := os.read(fd, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                on_line(line)
        if pending:
            on_line(pending)
    finally:
        os.close(fd)


def run_container(req: RunRequest, on_line: Callable[[bytes], None]) -> int:
    """Run the step's command; return its exit code (raise RunSetupError if it never started)."""
    _prepare_dir(req)
    if threading.current_thread() is not threading.main_thread() or threading.active_count() > 1:
        return _run_in_child(req, on_line)
    read_fd, write_fd = os.pipe()
    try:
        pid = _fork(req, write_fd)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    try:
        _pump(read_fd, on_line)
    except BaseException:  # interrupted: the step's container must not outlive the build
        os.kill(pid, signal.SIGKILL)
        _wait(pid)
        _end(req)
        raise
    code = _wait(pid)
    _end(req)
    return code


def _end(req: RunRequest) -> None:
    """What an external runtime holds of the step's container once it exited."""
    end_process(runtimes.check_name(req.runtime or None), _step_id(req), req.container_dir)


def _step_id(req: RunRequest) -> str:
    """The step container's ID: its folder's name, made unique by its path (an external
    runtime keeps every container it runs under its ID, machine-wide)."""
    return f"{os.path.basename(req.container_dir)}-{zlib.crc32(req.container_dir.encode()):08x}"


def _run_in_child(req: RunRequest, on_line: Callable[[bytes], None]) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "freight.builder.runcontainer"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin and proc.stdout and proc.stderr
    proc.stdin.write(json.dumps({**as_dict(req), "mounts": [as_dict(m) for m in req.mounts],
                                 "rootfs": [as_dict(m) for m in req.rootfs]}).encode())
    proc.stdin.close()
    try:
        _pump(os.dup(proc.stdout.fileno()), on_line)
    except BaseException:
        proc.kill()  # the container dies with it (PR_SET_PDEATHSIG)
        proc.wait()
        raise
    proc.stdout.close()
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    code = proc.wait()
    if err.startswith("setup-error "):
        status, _, message = err[len("setup-error "):].partition(" ")
        raise RunSetupError(message.strip(), int(status))
    return code


def clean_stubs(upper: str, lower: RootFS, targets: list[str]) -> None:
    """Remove mount points the step created that hold nothing, and pure copy-ups of their parents."""
    paths = [t.lstrip("/") for t in targets] + list(_HOST_FILES)
    for rel in sorted({"/".join(split(p)) for p in paths}, key=lambda p: -p.count("/")):
        if not rel or lower.lstat(rel) is not None:
            continue
        _remove_empty(upper, rel)
        parent = rel.rpartition("/")[0]
        while parent:
            if lower.lstat(parent) is None:
                _remove_empty(upper, parent)
            elif not _is_pure_copy_up(upper, parent, lower):
                break
            else:
                os.rmdir(f"{upper}/{parent}")
            parent = parent.rpartition("/")[0]


def _remove_empty(upper: str, rel: str) -> None:
    path = f"{upper}/{rel}"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not os.listdir(path):
            os.rmdir(path)
    elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
        os.unlink(path)


def _is_pure_copy_up(upper: str, rel: str, lower: RootFS) -> bool:
    """An empty, non-opaque upper dir with the lower dir's mode and owner changes nothing."""
    path = f"{upper}/{rel}"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    below = lower.lstat(rel)
    if not stat.S_ISDIR(st.st_mode) or os.listdir(path) or below is None:
        return False
    try:
        if os.getxattr(path, opaque_xattr(), follow_symlinks=False) == b"y":
            return False
    except OSError:
        pass
    return (below.st_mode, below.st_uid, below.st_gid) == (st.st_mode, st.st_uid, st.st_gid)


def _main() -> int:
    """Child-process entry: run one request from stdin, output on stdout."""
    data = json.loads(sys.stdin.buffer.read())
    data["mounts"] = [MountSpec(**m) for m in data["mounts"]]
    data["rootfs"] = [SnapshotMount(**{**m, "options": tuple(m["options"])}) for m in data["rootfs"]]
    req = RunRequest(**data)
    try:
        return _wait(_fork(req, 1))
    except RunSetupError as err:
        sys.stderr.write(f"setup-error {err.exit_code} {err}\n")
        return err.exit_code


if __name__ == "__main__":
    sys.exit(_main())
