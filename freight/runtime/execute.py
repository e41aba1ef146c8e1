"""``docker exec``: run a command in a running container's namespaces and cgroup.

As a container, an exec belongs to a monitor process of its own, forked from the
caller (``spawn.fork_monitor``), which stays the command's parent until it exits
and relays its streams; the foreground ``exec`` only views it through the attach
channel (``channel``), so it can detach (``--detach-keys``) or die and the command
runs on, and ``exec -d`` returns once the command runs.
"""

from __future__ import annotations

from freight.errors import FreightError, InvalidArgument
from freight.runtime import cgroups, channel, exec_records
from freight.runtime import hostconfig as cfg
from freight.runtime.caps import all_caps
from freight.runtime.childio import Attach, ChildStdio, Launched, relay_and_wait
from freight.runtime.containers import get_running
from freight.runtime.handoff import report
from freight.runtime.spawn import fork_monitor, fork_with_viewer, view_forked
from freight.runtime.starter import end_exec, start_exec
from freight.runtime.stdio import window_size
from freight.store import open_store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from _socket import socket
    from collections.abc import Sequence

    from freight.runtime.records import Container
    from freight.runtime.spec import ContainerSpec
    from freight.store import Store


def exec_in(store: Store, ref: str, cmd: list[str], env: Sequence[str] = (), user: str = "",
            workdir: str = "", tty: bool = False, interactive: bool = False,
            privileged: bool = False, ready_w: int | None = None, viewer: socket | None = None,
            winsize: bytes | None = None, exec_id: str | None = None) -> int:
    """In an exec's monitor: run ``cmd`` in the running container and stay its parent until
    it exits; its exit code (126/127 errors raise).

    Its environment is the container's plus ``env``; user and working directory
    default to the container's. ``ready_w`` gets the report ``0 <pid>`` once the
    command runs; ``viewer`` (the attach channel's) gets its streams, ``winsize`` is
    the viewer's terminal size. ``exec_id``: the exec instance (``exec_records``) whose
    ``Running``, ``Pid`` and ``ExitCode`` this keeps up to date.
    """
    c = get_running(store, ref)
    if not cmd:
        raise InvalidArgument("exec: no command given")
    spec = exec_spec(store, c, cmd, env, user, workdir, privileged)
    spec.tty, spec.stdin = tty, interactive
    io = ChildStdio(spec, winsize)
    try:
        pid, exec_r = start_exec(c.host_config.get("Runtime"), spec, c.pid, io.stdio)
    except BaseException:
        io.abort()
        raise
    finally:
        io.close_child_ends()
    launched = Launched(pid, exec_r, io.sources, io.stdin_to, None, None, io.tty_sock)
    try:
        launched.wait_exec()
    except FreightError:
        launched.abort()
        raise
    hub = channel.Hub(None, pid, tty, True, viewer) if viewer is not None else None
    if exec_id is not None:
        exec_records.started(store, exec_id, pid)
    if ready_w is not None:
        report(ready_w, 0, str(pid))
    code = relay_and_wait({"Tty": tty}, None, launched, hub)
    failure = end_exec(c.host_config.get("Runtime"), spec, c.pid)
    if failure is not None:  # the runtime's own message went to the exec's stderr
        code = failure.exit_code
    if exec_id is not None:  # before the viewer learns of the exit: it inspects the exec next
        exec_records.update(store, exec_id, Running=False, ExitCode=code)
    if hub is not None:
        hub.finish(code)
    return code


def exec_spec(store: Store, c: Container, cmd: list[str], env: Sequence[str] = (), user: str = "",
              workdir: str = "", privileged: bool = False) -> ContainerSpec:
    """What a command run in the running ``c`` gets (``fork_container`` with ``join_pid``):
    the container's environment plus ``env``, its user and working directory unless given,
    its cgroup; no terminal, no stdin."""
    spec = cfg.make_spec(c.record, c.directory(store), [])  # it joins the running one's mounts
    spec.args = list(cmd)
    spec.env = cfg.merge_env(spec.env, list(env))
    spec.user = user or spec.user
    spec.cwd = workdir or spec.cwd
    spec.tty, spec.stdin = False, False
    if privileged:
        spec.caps = all_caps()
    spec.cgroup = cgroups.load(c.id)
    return spec


def exec_attached(store: Store, ref: str, cmd: list[str], attach: Attach, env: Sequence[str] = (),
                  user: str = "", workdir: str = "", tty: bool = False, interactive: bool = False,
                  privileged: bool = False) -> int:
    """``docker exec``: run ``cmd`` in the container under a monitor of its own and view it
    from here (``attach``: our streams, signals and detach keys); its exit code."""
    forked = exec_viewed(store, ref, cmd, env, user, workdir, tty, interactive, privileged,
                         window_size(attach.stdout) if tty else None)
    outcome = view_forked(forked, attach, attach.stdin if interactive else None, tty)
    code = channel.viewer_exit(outcome)
    return 137 if code is None else code  # a monitor killed outright took its command with it


def exec_viewed(store: Store, ref: str, cmd: list[str], env: Sequence[str] = (), user: str = "",
                workdir: str = "", tty: bool = False, interactive: bool = False, privileged: bool = False,
                winsize: bytes | None = None, exec_id: str | None = None) -> tuple[socket, int]:
    """Run ``cmd`` in the container under a monitor of its own with the caller as its only
    viewer (``winsize``: the viewer's terminal size); return once it runs: the caller's end of
    the attach channel and the monitor's PID. What ``exec_in`` would refuse is refused here."""
    _check(store, ref, cmd)
    root = store.root_path
    return fork_with_viewer(lambda ready_w, viewer: exec_in(open_store(root), ref, cmd, env, user, workdir, tty,
                                                            interactive, privileged, ready_w, viewer, winsize,
                                                            exec_id))


def exec_detached(store: Store, ref: str, cmd: list[str], env: Sequence[str] = (), user: str = "",
                  workdir: str = "", privileged: bool = False, exec_id: str | None = None) -> None:
    """``docker exec -d``: return once ``cmd`` runs in the container, parented by a monitor.

    What ``exec_in`` would refuse is refused here, before a monitor is started.
    """
    _check(store, ref, cmd)
    root = store.root_path
    fork_monitor(lambda ready_w: exec_in(open_store(root), ref, cmd, env, user, workdir, privileged=privileged,
                                         ready_w=ready_w, exec_id=exec_id))


def _check(store: Store, ref: str, cmd: list[str]) -> None:
    get_running(store, ref)
    if not cmd:
        raise InvalidArgument("exec: no command given")
