"""``docker run`` and ``docker start``: start a container and supervise it until it exits.

Every container is started and supervised by a monitor process of its own
(``spawn.fork_monitor``), never by the command that asked for it: the command
(``run`` in the foreground, ``start -a``) is only a viewer, connected to the
monitor through the attach channel (``channel``) as ``attach`` is, so it can die
and the container runs on. The monitor relays and logs the output, runs the port
proxies and the poststart/poststop hooks, records the exit (one transaction) and
does ``--rm``. A monitor killed outright leaves a container that the next lookup
finishes (``removal.reap``).
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import nullcontext

from freight.errors import FreightError, NotFound
from freight.pids import start_time
from freight.record import replace
from freight.runtime import channel, healthcheck, restart, slim
from freight.runtime import hostconfig as cfg
from freight.runtime.attach import attach as attach_to
from freight.runtime.attach import exit_code_after
from freight.runtime.bundle import bundle_dir
from freight.runtime.cgroups import load as load_cgroup
from freight.runtime.childio import Attach, ChildStdio, Launched, exit_code_of, relay_and_wait, release
from freight.runtime.containers import get
from freight.runtime.create import insert, prepare
from freight.runtime.events import container_event
from freight.runtime.handoff import report
from freight.runtime.netbridge import entered
from freight.runtime.netsandbox import (
    close_sandbox,
    default_host_ip,
    default_network_warning,
    forget,
    forked_inside,
    open_sandbox,
    reopened,
    wire,
)
from freight.runtime.records import ZERO_TIME, Container, exited, new_state, save_state
from freight.runtime.removal import dispose
from freight.runtime.signals import send_signal
from freight.runtime.spawn import fork_monitor, fork_with_viewer, view_forked
from freight.runtime.spec import NETWORK_JOINED
from freight.runtime.starter import end_process, start_process
from freight.runtime.stdio import window_size
from freight.runtime.times import timestamp
from freight.store import open_store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from _socket import socket
    from collections.abc import Callable
    from typing import Any, NoReturn

    from freight.runtime.channel import Relay
    from freight.runtime.limits import DeviceRule, Resources
    from freight.runtime.portproxy import PortProxy
    from freight.store import Store

def run(store: Store, body: dict[str, Any], name: str | None = None, detach: bool = False,
        attach: Attach | None = None) -> int | str:
    """``docker run``: create and start; the exit code, or the ID when ``detach``."""
    c = prepare(store, body, name)
    insert(store, c)
    if detach:
        _start(store, c)
        return c.id
    return _start_attached(store, c, attach or Attach())


def start(store: Store, ref: str, attach: Attach | None = None) -> int | None:
    """``docker start``: detached unless ``attach`` (then the exit code is returned)."""
    c = get(store, ref)
    if restart.restarting(c) and attach is None:  # its monitor starts it again
        return None
    if c.running:  # as Docker: start -a of a running container attaches to it
        if attach is None:
            return None
        return attach_to(store, c.id, attach.stdin, 1 if attach.stdout is None else attach.stdout,
                         2 if attach.stderr is None else attach.stderr, attach.sig_proxy, attach.detach_keys)
    if attach is not None:
        return _start_attached(store, c, attach)
    _start(store, c)
    return None


def _start(store: Store, c: Container) -> None:
    """Hand the recorded ``c`` to a monitor of its own; return once its command runs (raise
    its start error otherwise)."""
    root = store.root_path
    fork_monitor(lambda ready_w: supervise(open_store(root), c, ready_w))


def _start_attached(store: Store, c: Container, attach: Attach) -> int:
    """Start ``c`` with this process as its first viewer; the exit code."""
    tty = bool(c.config.get("Tty"))
    forked = start_viewed(store, c, window_size(attach.stdout) if tty else None)
    outcome = view_forked(forked, attach, attach.stdin if c.config.get("OpenStdin") else None, tty)
    return exit_code_after(store, c.id, outcome)


def start_viewed(store: Store, c: Container, winsize: bytes | None = None) -> tuple[socket, int]:
    """Hand the recorded ``c`` to a monitor with the caller as its first viewer (``winsize``: the
    viewer's terminal size), so that it misses none of the output; return once the command runs
    (raise its start error otherwise): the caller's end of the attach channel and the monitor's PID."""
    root = store.root_path
    return fork_with_viewer(lambda ready_w, viewer: supervise(open_store(root), c, ready_w, viewer, winsize))


def supervise(store: Store, c: Container, ready_w: int, viewer: socket | None = None,
              winsize: bytes | None = None) -> int:
    """In the monitor: start the recorded ``c`` and stay its parent until it exits, restarting
    it as its restart policy says (``restart``); its last exit code.

    ``ready_w`` gets the report ``0 <pid>`` once the command runs; ``viewer`` is the
    attach channel's first viewer, ``winsize`` its terminal's size.
    """
    if c.state.get("ManualStop"):
        restart.manual_stop(store, c.id, False)  # a start ends a stop by hand
    return _keep_running(store, c, restart.Restarts(restart.policy_of(c.host_config)), ready_w, viewer, winsize)


def resume(argv: list[str]) -> NoReturn:
    """The full monitor again, re-executed by the small one (``slim``) once the container
    exited: finish as ``_supervise_once`` does, then go on with the restart policy; exit as
    every monitor does (``spawn``), with the container's exit code."""
    code = 125
    try:
        h = slim.from_argv(argv)
        code = h.code
        store = open_store(h.root)
        c = get(store, h.cid)
        network = reopened(store, h.netns, c.id) if h.netns >= 0 else None
        launched = Launched(h.pid, -1, {}, None, load_cgroup(c.id), None, None, None, network)
        hub = channel.Hub.adopt(None, h.pid, h.tty, h.stdin_once, -1, h.viewers, [])
        _finish(store, c, launched, code, hub.warn)
        hub.finish(code)
        restarts = restart.Restarts(restart.policy_of(c.host_config), h.restarts, h.delay)
        again = _after_exit(store, c, restarts, code, h.began)
        if again is not None:
            code = _keep_running(store, again, restarts)
    except BaseException:
        import traceback  # only for a monitor's own failure, written to its log

        traceback.print_exc()
    os._exit(code if 0 <= code < 256 else 125)


def _keep_running(store: Store, c: Container, restarts: restart.Restarts, ready_w: int = -1,
                  viewer: socket | None = None, winsize: bytes | None = None) -> int:
    """Run ``c`` and restart it as ``restarts`` says; its last exit code."""
    while True:
        began = time.monotonic()
        code = _supervise_once(store, c, ready_w, viewer, winsize, restarts, began)
        again = _after_exit(store, c, restarts, code, began)
        if again is None:
            return code
        c, ready_w, viewer, winsize = again, -1, None, None


def _after_exit(store: Store, c: Container, restarts: restart.Restarts, code: int, began: float) -> Container | None:
    """After a run that began at ``began`` (monotonic) ended with ``code``: ``c`` as recorded
    now, once the restart's back-off passed, or None when it is not restarted."""
    if restarts.policy["Name"] == "no" or c.host_config.get("AutoRemove"):
        return None
    delay = restarts.next_delay(code, bool(restart.stopped_by_hand(store, c.id)), time.monotonic() - began)
    if delay is None:
        return None
    c.state.update(Status="restarting", Restarting=True, MonitorPid=os.getpid(),
                   MonitorStartTime=start_time(os.getpid()))
    save_state(store, c)
    restart.count(store, c.id, restarts.count)
    if not restart.wait_out(store, c.id, delay):
        restart.give_up(store, c)
        return None
    try:
        return get(store, c.id)  # as recorded now (renamed, updated)
    except NotFound:
        return None


def _supervise_once(store: Store, c: Container, ready_w: int, viewer: socket | None,
                    winsize: bytes | None, restarts: restart.Restarts, began: float) -> int:
    """One run of ``c``, begun at ``began``: ``supervise`` without restarts (``ready_w`` -1: none
    to report to). The monitor may be made small meanwhile (``slim``), carrying ``restarts``."""
    try:
        launched = _launch(store, c, winsize)
    except FreightError as err:
        _start_failed(store, c, err)
        raise
    c.state.update(Status="running", Running=True, Restarting=False, Pid=launched.pid, StartedAt=timestamp(),
                   FinishedAt=ZERO_TIME, ExitCode=0, Error="", OOMKilled=False,
                   StartTime=start_time(launched.pid), MonitorPid=os.getpid(),
                   MonitorStartTime=start_time(os.getpid()))
    try:  # recorded while the child sets itself up, in parallel
        save_state(store, c, record=launched.network is not None)
    except FreightError:
        os.kill(launched.pid, signal.SIGKILL)
        os.waitpid(launched.pid, 0)
        launched.abort()
        _close_network(store, c, launched)
        end_process(c.host_config.get("Runtime"), c.id, c.directory(store))
        dispose(store, c, None, remove_row=False)
        raise
    try:
        launched.wait_exec()
    except FreightError as err:
        launched.abort()
        _close_network(store, c, launched)
        c.state.update(new_state(), Error=str(err), ExitCode=err.exit_code)
        if c.host_config.get("AutoRemove"):
            dispose(store, c, None, remove_row=True, volumes=True)
        else:
            save_state(store, c, record=True)
        _run_hooks(store, c, launched, "poststop")
        raise
    checker = healthcheck.start(store, c, tuple(fd for fd in (ready_w, viewer.fileno() if viewer else -1) if fd >= 0))
    hub = channel.Hub(c.directory(store), launched.pid, bool(c.config.get("Tty")),
                      bool(c.config.get("StdinOnce")), viewer)
    _run_hooks(store, c, launched, "poststart", hub.warn)
    if launched.network is None and (warning := default_network_warning(c.host_config)):
        hub.warn(f"WARNING: {warning}\n")  # a rootless container with its loopback alone
    container_event(store, c, "start")
    if launched.proxy is not None:
        try:
            launched.proxy.start(f"/proc/{launched.pid}/ns/net")
        except FreightError:
            if not _exiting(launched.pid):  # else it exited first: there is nothing to relay to
                raise
        _record_ports(c, launched.proxy)
        save_state(store, c, record=True)
    if ready_w >= 0:
        report(ready_w, 0, str(launched.pid))
    try:
        settled = _hand_over(store, c, launched, restarts, began) if _may_slim(launched, checker) else None
        code = relay_and_wait(c.config, c.record["LogPath"], launched, hub, cfg.log_limits(c.host_config), settled)
    except BaseException:  # the monitor failed: the container cannot outlive it
        healthcheck.stop(store, c.id, checker)
        send_signal(launched.pid, signal.SIGKILL)
        hub.stop_listening()
        _finish(store, c, launched, exit_code_of(launched.pid), hub.warn)
        hub.finish(None)
        raise
    healthcheck.stop(store, c.id, checker)
    hub.stop_listening()
    _finish(store, c, launched, code, hub.warn)
    hub.finish(code)
    return code


def _may_slim(launched: Launched, checker: int | None) -> bool:
    """Whether the monitor may be made small once ``launched`` settled: it has nothing to do but
    relay the streams (no port proxy, health checker, slirp4netns or CDI hooks of its own)."""
    network = launched.network
    return (launched.proxy is None and checker is None and not launched.hooks
            and (network is None or network.slirp4netns is None))


def _hand_over(store: Store, c: Container, launched: Launched, restarts: restart.Restarts,
               began: float) -> Callable[[Relay], None]:
    """What re-executes the monitor small (``slim``) once its relay settled."""
    def hand_over(relay: Relay) -> None:
        assert relay.hub is not None
        listener, viewers, feeding = relay.hub.handed_over()
        log = relay.log
        h = slim.Handover(
            root=store.root_path, cid=c.id, directory=c.directory(store), pid=launched.pid, sources=relay.sources,
            stdin_to=-1 if relay.stdin_to is None else relay.stdin_to, close_stdin=relay.close_stdin,
            tty=relay.hub.tty, stdin_once=relay.hub.stdin_once, log=log.path if log is not None else "",
            max_size=log.max_size if log is not None else 0, max_file=log.max_file if log is not None else 1,
            partial_stdout=log.partial["stdout"] if log is not None else b"",
            partial_stderr=log.partial["stderr"] if log is not None else b"",
            listener=listener, viewers=viewers, feeding=feeding,
            netns=launched.network.fd if launched.network is not None else -1,
            restarts=restarts.count, delay=restarts.delay, began=began)
        slim.reexecute(h, "freight.runtime.slim", "main", small=True)

    return hand_over


def _launch(store: Store, c: Container, winsize: bytes | None) -> Launched:
    """Fork the container's process (not yet running its command) with its streams,
    cgroup and bound port proxy."""
    image = c.image or store.resolve_image(c.image_id)
    spec = cfg.make_spec(c.record, c.directory(store), store.rootfs_mounts(image, c.directory(store)))
    edits = cfg.device_edits(c.host_config)
    if edits is not None:
        spec.devices += edits.devices
        spec.mounts += edits.mounts
        spec.env = edits.merge_env(spec.env)
        spec.group_add += [str(g) for g in edits.additional_gids]
    proxy = _port_proxy(c, default_host_ip(store, c))
    try:
        sandbox = open_sandbox(store, c, proxy.bindings if proxy is not None else [])
    except BaseException:
        release(None, proxy)
        raise
    if sandbox is not None:  # the process is forked inside the namespace made for it
        spec.network = NETWORK_JOINED
        spec.netns_path = f"/proc/{os.getpid()}/fd/{sandbox.fd}"
    try:
        io = ChildStdio(spec, winsize)
    except BaseException:
        release(None, proxy)
        if sandbox is not None:
            close_sandbox(store, sandbox)
        raise
    rules = edits.rules if edits is not None else []
    hooks = edits.hooks if edits is not None and edits.hooks else None
    try:
        # Always a cgroup, as Docker: its device rules keep CAP_MKNOD away from host disks.
        # The network is wired while the child builds its filesystem (see start_process).
        with entered(sandbox.fd) if sandbox is not None and forked_inside(sandbox) else nullcontext() as home:
            wiring = (lambda: wire(store, sandbox, home)) if sandbox is not None else None
            started = start_process(c.host_config.get("Runtime"), spec, _resources(c, rules), hooks, io.stdio,
                                    wiring, home)
    except BaseException:
        io.abort()
        release(spec.cgroup, proxy)
        if sandbox is not None:
            close_sandbox(store, sandbox)
        raise
    finally:
        io.close_child_ends()
    return Launched(started.pid, started.exec_r, io.sources, io.stdin_to, started.spec.cgroup, proxy,
                    io.tty_sock, started.hooks, sandbox)


def _port_proxy(c: Container, default_ip: str) -> PortProxy | None:
    """The bound (not yet relaying) proxy for -p/-P; None without published ports. A port
    published without an address binds ``default_ip`` ("": every address)."""
    bindings = c.host_config.get("PortBindings") or {}
    publish_all = bool(c.host_config.get("PublishAllPorts") and c.config.get("ExposedPorts"))
    if not (bindings or publish_all) or c.host_config.get("NetworkMode") in ("host", "none"):
        return None
    from freight.runtime.portproxy import PortProxy  # sockets and a thread: only -p and -P need them
    from freight.runtime.ports import PortBinding, expose_all

    wanted = []
    for key, entries in bindings.items():
        port, _, proto = key.partition("/")
        for b in entries or [{}]:
            host_port = str(b.get("HostPort") or "0")
            low, _, high = host_port.partition("-")
            wanted.append(PortBinding(int(port), proto or "tcp", b.get("HostIp") or default_ip,
                                      int(low or 0), int(high or 0)))
    if publish_all:
        wanted += [replace(b, host_ip=b.host_ip or default_ip) for b in expose_all(c.config["ExposedPorts"], wanted)]
    proxy = PortProxy(None, wanted)
    proxy.bind()
    return proxy


def _resources(c: Container, device_rules: list[DeviceRule]) -> Resources:
    """The container's cgroup limits; device rules follow Docker's default deny list."""
    resources = cfg.make_resources(c.host_config)
    if resources.devices is not None:
        resources.devices = [*resources.devices, *device_rules]
    return resources


def _start_failed(store: Store, c: Container, err: FreightError) -> None:
    """Docker keeps a container whose start failed, in state created with the error (unless --rm)."""
    if c.host_config.get("AutoRemove"):
        dispose(store, c, None, remove_row=True, volumes=True)
        return
    c.state.update(Error=str(err), ExitCode=err.exit_code)
    save_state(store, c)


def _exiting(pid: int) -> bool:
    """Whether our child ``pid`` (not yet reaped, so not reused) has released its namespaces,
    which it does on its way out."""
    try:
        os.readlink(f"/proc/{pid}/ns/net")
    except FileNotFoundError:
        return True
    return False


def _record_ports(c: Container, proxy: PortProxy) -> None:
    from freight.runtime.ports import ports_json

    c.record["NetworkSettings"]["Ports"] = ports_json(proxy.bindings, c.config.get("ExposedPorts") or {})


def _run_hooks(store: Store, c: Container, launched: Launched, stage: str,
               warn: Callable[[str], None] | None = None) -> None:
    """OCI poststart/poststop hooks, in our namespaces; a failure is only a warning (for the
    viewers: ``warn``)."""
    if not launched.hooks or not launched.hooks.get(stage):
        return
    from freight.runtime.hooks import oci_state, run_hooks

    status, pid = ("running", launched.pid) if stage == "poststart" else ("stopped", None)
    run_hooks(stage, launched.hooks[stage], oci_state(c.id, status, bundle_dir(c.directory(store)), pid),
              fatal=False, warn=warn)


def _close_network(store: Store, c: Container, launched: Launched) -> None:
    """Release the container's network (its leases; the namespace goes with our descriptor)."""
    if launched.network is not None:
        close_sandbox(store, launched.network)
        launched.network = None
        forget(store, c)


def _finish(store: Store, c: Container, launched: Launched, code: int, warn: Callable[[str], None]) -> None:
    """Record the exit (one transaction) or, with --rm, remove everything (the poststop hooks'
    warnings go to ``warn``)."""
    if launched.proxy is not None:
        launched.proxy.stop()
    _close_network(store, c, launched)
    oom = bool(code == 137 and launched.cgroup is not None and launched.cgroup.oom_killed())
    end_process(c.host_config.get("Runtime"), c.id, c.directory(store))
    if oom:
        container_event(store, c, "oom")
    container_event(store, c, "die", exitCode=str(code))
    if c.host_config.get("AutoRemove"):
        dispose(store, c, launched.cgroup, remove_row=True, volumes=True)
        _run_hooks(store, c, launched, "poststop", warn)
        return
    if launched.cgroup is not None:
        launched.cgroup.destroy()
    exited(c, code, timestamp(), OOMKilled=oom)
    save_state(store, c, record=True)
    _run_hooks(store, c, launched, "poststop", warn)
