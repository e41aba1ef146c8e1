"""``docker exec``: run a command in a running container's namespaces and cgroup.

In the foreground the caller stays the command's parent until it exits; with
``-d`` a monitor process of its own does (``spawn``, ``monitor``), since a
container process dies with the process that started it.
"""

from __future__ import annotations

from freight.errors import FreightError, InvalidArgument
from freight.runtime import cgroups
from freight.runtime import hostconfig as cfg
from freight.runtime.caps import all_caps
from freight.runtime.childio import Attach, ChildStdio, Launched, relay_and_wait
from freight.runtime.containers import get_running
from freight.runtime.handoff import report
from freight.runtime.launch import fork_container
from freight.runtime.spawn import spawn

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Sequence

    from freight.store import Store


def exec_in(store: Store, ref: str, cmd: list[str], env: Sequence[str] = (), user: str = "",
            workdir: str = "", tty: bool = False, interactive: bool = False,
            privileged: bool = False, attach: Attach | None = None, ready_w: int | None = None,
            console_size: list[int] | None = None) -> int:
    """Run ``cmd`` in the running container and relay its streams; its exit code
    (126/127 errors raise).

    Its environment is the container's plus ``env``; user and working directory
    default to the container's. ``ready_w`` (a monitor's) gets the report
    ``0 <pid>`` once the command runs. ``console_size`` ([rows, columns]): the terminal's
    size when the caller's own is not one.
    """
    c = get_running(store, ref)
    if not cmd:
        raise InvalidArgument("exec: no command given")
    spec = cfg.make_spec(c.record, c.directory(store), [])  # it joins the running one's mounts
    spec.args = list(cmd)
    spec.env = cfg.merge_env(spec.env, list(env))
    spec.user = user or spec.user
    spec.cwd = workdir or spec.cwd
    spec.tty, spec.stdin, spec.init = tty, interactive, False
    if privileged:
        spec.caps = all_caps()
    spec.cgroup = cgroups.load(c.id)
    io = ChildStdio(spec, attach.stdout if attach is not None else None, console_size)
    try:
        pid, exec_r = fork_container(spec, io.stdio, join_pid=c.pid)
    except BaseException:
        io.abort()
        raise
    finally:
        io.close_child_ends()
    launched = Launched(pid, exec_r, io.sources, io.stdin_to, None, None, io.tty_sock, attach)
    try:
        launched.wait_exec()
    except FreightError:
        launched.abort()
        raise
    if ready_w is not None:
        report(ready_w, 0, str(pid))
    return relay_and_wait({"Tty": tty, "OpenStdin": interactive}, None, attach, launched)


def exec_detached(store: Store, ref: str, cmd: list[str], env: Sequence[str] = (), user: str = "",
                  workdir: str = "", privileged: bool = False) -> None:
    """``docker exec -d``: return once ``cmd`` runs in the container, parented by a monitor.

    What ``exec_in`` would refuse is refused here, before a monitor is started.
    """
    c = get_running(store, ref)
    if not cmd:
        raise InvalidArgument("exec: no command given")
    spawn(store.root_path, c.id, {"cmd": list(cmd), "env": list(env), "user": user,
                                  "workdir": workdir, "privileged": privileged})
