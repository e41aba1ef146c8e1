"""Start a container's process with its runtime, built-in or external, and end it.

The one place that knows which runtime runs a container (``HostConfig.Runtime``):
``start_process`` writes the bundle and hands it to the runtime, ``start_exec``
the same for an ``exec`` (a process.json), and ``end_process`` releases what an
external runtime holds once the container exited. Either way the caller gets the
PID of a child it supervises and reaps, and a pipe that reports a set-up error (or
says nothing), as ``launch.fork_container`` gives.
"""

from __future__ import annotations

import os
import struct

from freight.record import Record
from freight.runtime import bundle, cgroups, runtimes
from freight.runtime.launch import fork_container

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable

    from freight.errors import FreightError
    from freight.runtime.handoff import Stdio
    from freight.runtime.hooks import Hook
    from freight.runtime.limits import Resources
    from freight.runtime.spec import ContainerSpec


class Started(Record):
    """A container process that runs (or reports its set-up error on ``exec_r``): ``spec``
    is what its runtime read, with its cgroup; ``hooks`` those left for the caller to run
    (poststart, poststop), none for an external runtime, which runs its own."""

    pid: int
    exec_r: int
    spec: ContainerSpec
    hooks: dict[str, list[Hook]] | None


def start_process(runtime_name: str | None, spec: ContainerSpec, resources: Resources,
                  hooks: dict[str, list[Hook]] | None, stdio: Stdio,
                  wiring: Callable[[], None] | None = None, home: int | None = None) -> Started:
    """Write ``spec``'s bundle and start it with the runtime called ``runtime_name``;
    ``wiring`` (the network's set-up) runs before the process can use its network. ``home``:
    the host's network namespace, when the caller is in the one made for the container."""
    runtime = runtimes.find(runtime_name)
    spec.console_size = _console_size(stdio)
    path = bundle.write(spec, resources, hooks)
    if runtime is not None:
        if wiring is not None:
            wiring()
        pid = runtimes.start(runtime, spec, path, stdio, home)
        spec.cgroup = cgroups.load(spec.id)
        return Started(pid, _silent_pipe(), spec, None)
    given = bundle.load(path, spec.id)
    limits = given.resources

    def make_cgroup() -> cgroups.Cgroup | None:
        if wiring is not None:
            wiring()
        return cgroups.create(spec.id, limits)

    # The cgroup is made (and the network wired) while the child builds its filesystem (see
    # fork_container).
    pid, exec_r = fork_container(given.spec, stdio, make_cgroup=make_cgroup, hooks=given.hooks or None)
    return Started(pid, exec_r, given.spec, given.hooks or None)


def start_exec(runtime_name: str | None, spec: ContainerSpec, container_pid: int, stdio: Stdio) -> tuple[int, int]:
    """``exec`` ``spec``'s process in the running container ``container_pid``: (pid, exec_r)."""
    runtime = runtimes.find(runtime_name)
    spec.console_size = _console_size(stdio)
    path = bundle.write_process(spec, container_pid)
    if runtime is not None:
        runtimes.check_command(runtime, container_pid, spec)
        return runtimes.exec_process(runtime, spec.id, path, stdio), _silent_pipe()
    given = bundle.load_process(path, spec)
    given.cgroup = cgroups.load(spec.id)
    return fork_container(given, stdio, join_pid=container_pid)


def end_exec(runtime_name: str | None, spec: ContainerSpec, container_pid: int) -> FreightError | None:
    """After an external runtime's exec (without a terminal) exited: its own error, if it
    failed to start the command (its exit code 127 or 126 where it says the command is
    missing or cannot run)."""
    runtime = runtimes.find(runtime_name)
    return runtimes.exec_failure(runtime, bundle.process_file(spec, container_pid)) if runtime is not None else None


def end_process(runtime_name: str | None, container_id: str, container_dir: str) -> None:
    """Once the container exited: an external runtime's record of it and its mounted root."""
    runtime = runtimes.find(runtime_name) if runtime_name not in (None, runtimes.BUILTIN) else None
    if runtime is not None:
        runtimes.cleanup(runtime, container_id, f"{container_dir}/merged")


def _console_size(stdio: Stdio) -> tuple[int, int] | None:
    """The caller's terminal size (rows, columns) that ``stdio`` carries for ``-t``."""
    if not stdio.winsize:
        return None
    rows, columns = struct.unpack("HHHH", stdio.winsize)[:2]
    return rows, columns


def _silent_pipe() -> int:
    """The read end of a pipe that says nothing: no set-up error to report."""
    read, write = os.pipe()
    os.close(write)
    return read
