"""Containers: create, start, run, stop, kill, wait, remove, list, look up.

The library behind ``freight run/create/start/stop/...`` and the Docker API
service. A container is a row of the ``containers`` table: ``config`` holds
the inspect-shaped record (``Config``, ``HostConfig``, ``Mounts``, ``Path``,
``Args``, ...), ``state`` Docker's ``State`` (plus the private ``StartTime``,
``MonitorPid`` and ``MonitorStartTime`` that tell a live process from a reused
PID). Its files are in ``<root>/containers/<id>/``.

Whoever started a container supervises it until it exits: ``freight run``
in the foreground itself, or a monitor process (``freight.runtime.monitor``)
for detached containers (``-d``, ``start``). The supervisor relays and logs
the output, runs the port proxies, records the exit and does ``--rm``. A
container dies with its supervisor (parent-death signal), so a supervisor
killed outright leaves a container that the next ``get`` or ``list_containers``
finishes: it records the exit (137) and removes the cgroups, or, with ``--rm``,
removes the container. A container killed before its row was written leaves
only its directory, which ``list_containers`` removes (``containerdir``).

Writes are one transaction when a container is created (for ``run``: when it
has started) and one when it exits.
"""

from __future__ import annotations

import os
import sqlite3
import time

from freight.errors import Conflict, FreightError, InvalidArgument, NotFound
from freight.pids import alive, start_time
from freight.runtime.stdio import timestamp

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"
_SIGNALS_NOT_FORWARDED = {"SIGKILL", "SIGSTOP", "SIGCHLD", "SIGWINCH", "SIGPIPE", "SIGURG"}


class Container:
    """One container row; ``record`` is the inspect-shaped config, ``state`` Docker's State."""

    def __init__(self, record: dict[str, Any], state: dict[str, Any], image: Any = None) -> None:
        self.record = record
        self.state = state
        self.image = image  # the store's Image when already resolved (``run``), else None
        self.dir_lock: int | None = None  # the creator's lock until the row is in (``containerdir``)

    @property
    def id(self) -> str:
        return self.record["Id"]

    @property
    def name(self) -> str:
        return self.record["Name"].lstrip("/")

    @property
    def image_id(self) -> str:
        return self.record["Image"]

    @property
    def config(self) -> dict[str, Any]:
        return self.record["Config"]

    @property
    def host_config(self) -> dict[str, Any]:
        return self.record["HostConfig"]

    @property
    def running(self) -> bool:
        return bool(self.state.get("Running"))

    @property
    def pid(self) -> int:
        return int(self.state.get("Pid") or 0)

    def directory(self, store: Any) -> str:
        return f"{store.root}/containers/{self.id}"


def new_state(status: str = "created") -> dict[str, Any]:
    return {"Status": status, "Running": False, "Paused": False, "Restarting": False,
            "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME}


# ---------------------------------------------------------------- lookup


def _from_row(row: sqlite3.Row) -> Container:
    import json

    return Container(json.loads(row["config"]), json.loads(row["state"]))


def get(store: Any, ref: str) -> Container:
    """By full ID, by name (with or without ``/``), else by unique ID prefix (Docker's order)."""
    db = store.db
    name = ref.lstrip("/")
    row = db.execute("SELECT * FROM containers WHERE id = ? OR name = ?", (ref, name)).fetchone()
    if row is None and ref and all(c in "0123456789abcdef" for c in ref):
        rows = db.execute("SELECT * FROM containers WHERE id LIKE ?", (ref + "%",)).fetchall()
        if len(rows) > 1:
            raise Conflict(f"Multiple IDs found with provided prefix: {ref}")
        row = rows[0] if rows else None
    c = _refresh(store, _from_row(row)) if row is not None else None
    if c is None:
        raise NotFound(f"No such container: {ref}")
    return c


def list_containers(store: Any, all: bool = False) -> list[Container]:
    """Newest first, as ``docker ps`` lists them; only running ones unless ``all``. Directories
    of containers whose creator was killed before it recorded them are removed on the way."""
    from freight.runtime.containerdir import sweep

    rows = store.db.execute("SELECT * FROM containers ORDER BY created DESC").fetchall()
    found = [_refresh(store, _from_row(r)) for r in rows]
    sweep(store, {r["id"] for r in rows})
    return [c for c in found if c is not None and (all or c.running)]


def _alive(state: dict[str, Any], pid_key: str, start_key: str) -> bool:
    return alive(int(state.get(pid_key) or 0), state.get(start_key))


def _refresh(store: Any, c: Container) -> Container | None:
    """``c``, or None when it is gone. A container recorded as running whose supervisor is gone
    (killed before it could record the exit; the container's processes died with it, by their
    parent-death signal) is finished here as its supervisor would have: recorded as exited
    (137) without its cgroups, as Docker shows one whose shim died, or, with ``--rm``, removed."""
    if c.running and not _alive(c.state, "MonitorPid", "MonitorStartTime"):
        return _reap(store, c)
    return c


def _reap(store: Any, c: Container) -> Container | None:
    import json

    from freight.store.db import transaction

    if c.host_config.get("AutoRemove"):
        _cleanup(store, c, None, remove_row=True, volumes=True)
        return None
    with transaction(store.db) as db:
        row = db.execute("SELECT state FROM containers WHERE id = ?", (c.id,)).fetchone()
        if row is None:
            return None
        current = json.loads(row[0])
        if any(current.get(k) != c.state.get(k) for k in ("Running", "MonitorPid", "MonitorStartTime")):
            c.state = current  # someone else reaped it (or started it again) meanwhile
            return c
        from freight.runtime import cgroups

        cgroup = cgroups.load(c.id)
        if cgroup is not None:  # inside the transaction: no ``start`` makes a new one meanwhile
            cgroup.destroy()
        c.state.update(Status="exited", Running=False, Pid=0, ExitCode=137,
                       Error="container process disappeared", FinishedAt=timestamp())
        for key in ("StartTime", "MonitorPid", "MonitorStartTime"):
            c.state.pop(key, None)
        db.execute("UPDATE containers SET state = ? WHERE id = ?", (json.dumps(c.state), c.id))
    return c


# ---------------------------------------------------------------- create


def create(store: Any, body: dict[str, Any], name: str | None = None) -> Container:
    """Docker's ``POST /containers/create``: record the container and prepare its files."""
    c = prepare(store, body, name)
    _insert(store, c)
    return c


def prepare(store: Any, body: dict[str, Any], name: str | None = None) -> Container:
    """Everything ``create`` does except the database insert (``run`` inserts once started)."""
    from freight.runtime import containerdir, volumes
    from freight.runtime import hostconfig as cfg

    image = store.resolve_image(body.get("Image") or "")
    host = dict(body.get("HostConfig") or {})
    config = cfg.merge_image_config(body, image.config)
    cfg.validate_host_config(host)
    name = _unique_name(store, name)
    cid = os.urandom(32).hex()
    host_network = host.get("NetworkMode") == "host"
    if not config.get("Hostname"):
        config["Hostname"] = os.uname().nodename if host_network else cid[:12]
    config["Image"] = body.get("Image") or image.id
    mounts = volumes.resolve_mounts(store.root, config, host)
    host.setdefault("NetworkMode", "default")
    directory = f"{store.root}/containers/{cid}"
    record = {
        "Id": cid, "Created": timestamp(), "Path": cfg.command_of(config)[0],
        "Args": cfg.command_of(config)[1:], "Image": image.id, "Name": "/" + name,
        "ResolvConfPath": f"{directory}/resolv.conf", "HostnamePath": f"{directory}/hostname",
        "HostsPath": f"{directory}/hosts", "LogPath": f"{directory}/{cid}-json.log",
        "RestartCount": 0, "Driver": "overlay", "Platform": "linux", "MountLabel": "",
        "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
        "HostConfig": host, "Mounts": mounts, "Config": config,
        "NetworkSettings": {"Ports": _ports(config, host)},
    }
    c = Container(record, new_state(), image)
    c.dir_lock = containerdir.create(store.root_path, cid, volumes.anonymous_volumes(mounts))
    try:
        _make_files(c, directory, host_network)
    except BaseException:
        _cleanup(store, c, None, remove_row=False)
        raise
    return c


def _make_files(c: Container, directory: str, host_network: bool) -> None:
    """The overlay's directories (the upper dir is the container's ``/``: 0755, below the
    private container directory), the host files and the volumes' directories."""
    from freight.runtime.hostfiles import write_host_files

    for sub in ("upper", "work", "merged"):
        os.mkdir(f"{directory}/{sub}", 0o700 if sub == "work" else 0o755)
    write_host_files(directory, c.config["Hostname"], host_network)
    for m in c.record["Mounts"]:
        if m["Type"] == "volume":
            os.makedirs(m["Source"], 0o755, exist_ok=True)


def _unique_name(store: Any, name: str | None) -> str:
    from freight.runtime.names import check_name, random_name

    if name:
        name = check_name(name)
        row = store.db.execute("SELECT id FROM containers WHERE name = ?", (name,)).fetchone()
        if row:
            raise Conflict(f'Conflict. The container name "/{name}" is already in use by container '
                           f'"{row[0]}". You have to remove (or rename) that container to be able to reuse that name.')
        return name
    while True:
        name = random_name()
        if not store.db.execute("SELECT 1 FROM containers WHERE name = ?", (name,)).fetchone():
            return name


def _ports(config: dict[str, Any], host: dict[str, Any]) -> dict[str, Any]:
    if not host.get("PortBindings") and not config.get("ExposedPorts"):
        return {}
    result: dict[str, Any] = {key: None for key in config.get("ExposedPorts") or {}}
    for key, bindings in (host.get("PortBindings") or {}).items():
        result[key] = [{"HostIp": b.get("HostIp") or "0.0.0.0", "HostPort": str(b.get("HostPort") or "")}
                       for b in bindings]
    return result


def _insert(store: Any, c: Container) -> None:
    import json

    from freight.runtime.volumes import ANONYMOUS_LABEL, ensure_volume
    from freight.store.db import transaction

    try:
        with transaction(store.db) as db:
            for m in c.record["Mounts"]:
                if m["Type"] == "volume":
                    ensure_volume(db, store.root, m["Name"], c.record["Created"],
                                  labels={ANONYMOUS_LABEL: ""} if m.get("Anonymous") else None)
            db.execute("INSERT INTO containers (id, name, image_id, created, config, state) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (c.id, c.name, c.image_id, c.record["Created"], json.dumps(c.record),
                        json.dumps(c.state)))
    except sqlite3.IntegrityError:
        raise Conflict(f'Conflict. The container name "/{c.name}" is already in use.') from None
    _release_dir(c)


def _release_dir(c: Container) -> None:
    if c.dir_lock is not None:
        os.close(c.dir_lock)
        c.dir_lock = None


def _save_state(store: Any, c: Container, record: bool = False) -> None:
    """Write the state (and with ``record``, the config record too) in one transaction."""
    import json

    from freight.store.db import transaction

    with transaction(store.db) as db:
        if record:
            db.execute("UPDATE containers SET state = ?, config = ? WHERE id = ?",
                       (json.dumps(c.state), json.dumps(c.record), c.id))
        else:
            db.execute("UPDATE containers SET state = ? WHERE id = ?", (json.dumps(c.state), c.id))


# ---------------------------------------------------------------- start and supervise


class Attach:
    """The caller's streams for a foreground container (None: not attached)."""

    def __init__(self, stdin: int | None = 0, stdout: int | None = 1, stderr: int | None = 2,
                 sig_proxy: bool = True) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.sig_proxy = sig_proxy


def run(store: Any, body: dict[str, Any], name: str | None = None, detach: bool = False,
        attach: Attach | None = None) -> int | str:
    """``docker run``: create and start; the exit code, or the ID when ``detach``."""
    c = prepare(store, body, name)
    if detach:
        _start_detached(store, c, inserted=False)
        return c.id
    return supervise(store, c, attach or Attach(), inserted=False)


def start(store: Any, ref: str, attach: Attach | None = None) -> int | None:
    """``docker start``: detached unless ``attach`` (then the exit code is returned)."""
    c = get(store, ref)
    if c.running:
        return None
    if attach is not None:
        return supervise(store, c, attach, inserted=True)
    _start_detached(store, c, inserted=True)
    return None


def _start_detached(store: Any, c: Container, inserted: bool) -> None:
    """Record the container, then hand it to its own monitor process (``freight.runtime.monitor``)."""
    from freight.runtime.monitor import spawn

    if not inserted:
        _insert(store, c)
    spawn(str(store.root), c.id)


def get_running(store: Any, ref: str) -> Container:
    """The container ``ref``, which must be running (for exec, top)."""
    c = get(store, ref)
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    return c


def exec_detached(store: Any, ref: str, cmd: list[str], env: list[str] = (), user: str = "",
                  workdir: str = "", privileged: bool = False) -> None:
    """``docker exec -d``: return once ``cmd`` runs in the container, parented by a monitor.

    (A container process dies with the freight process that started it, so the
    exec needs a parent of its own that outlives the caller.) What ``exec_in``
    would refuse is refused here, before a monitor is started.
    """
    from freight.runtime.monitor import spawn

    c = get_running(store, ref)
    if not cmd:
        raise InvalidArgument("exec: no command given")
    spawn(str(store.root), c.id, {"cmd": list(cmd), "env": list(env), "user": user,
                                  "workdir": workdir, "privileged": privileged})


def notify(fd: int | None, code: int, text: str) -> None:
    """Tell whoever waits on a monitor's readiness fd how the start went."""
    if fd is None:
        return
    try:
        os.write(fd, f"{code} {text}".encode())
        os.close(fd)
    except OSError:
        pass


class _Launched:
    """A forked container process, its streams, cgroup and port proxy."""

    def __init__(self, pid: int, exec_r: int, sources: dict[int, str], stdin_to: int | None,
                 cgroup: Any, proxy: Any, tty_sock: Any, attach: Attach | None,
                 hooks: dict[str, list[Any]] | None = None) -> None:
        self.pid = pid
        self.exec_r = exec_r
        self.sources = sources
        self.stdin_to = stdin_to
        self.cgroup = cgroup
        self.proxy = proxy
        self.tty_sock = tty_sock
        self.attach = attach
        self.hooks = hooks  # the OCI hooks of CDI devices (poststart and poststop are ours)

    def wait_exec(self) -> None:
        """Until the command runs (the pty master arrives first with -t); its set-up error."""
        from freight.runtime.launch import wait_exec

        if self.tty_sock is not None:
            self.sources, self.stdin_to = _receive_pty(self.tty_sock, self.attach)
            self.tty_sock = None
        wait_exec(self.pid, self.exec_r)

    def abort(self) -> None:
        """Release what a container that never ran holds."""
        for fd in self.sources:
            os.close(fd)
        if self.stdin_to is not None and self.stdin_to not in self.sources:
            os.close(self.stdin_to)
        self.sources, self.stdin_to = {}, None
        _release(self.cgroup, self.proxy)


def supervise(store: Any, c: Container, attach: Attach | None, inserted: bool,
              ready_w: int | None = None) -> int:
    """Start ``c`` and stay its parent until it exits; return its exit code.

    ``ready_w`` (the monitor's) gets ``0 <pid>`` once the command runs.
    """
    import signal

    try:
        launched = _launch(store, c, attach)
    except FreightError as err:
        _start_failed(store, c, inserted, err)
        raise
    c.state.update(Status="running", Running=True, Pid=launched.pid, StartedAt=timestamp(),
                   FinishedAt=ZERO_TIME, ExitCode=0, Error="", OOMKilled=False,
                   StartTime=start_time(launched.pid), MonitorPid=os.getpid(),
                   MonitorStartTime=start_time(os.getpid()))
    try:  # recorded while the child sets itself up, in parallel
        _insert(store, c) if not inserted else _save_state(store, c)
    except FreightError:
        os.kill(launched.pid, signal.SIGKILL)
        os.waitpid(launched.pid, 0)
        launched.abort()
        _cleanup(store, c, None, remove_row=False)
        raise
    try:
        launched.wait_exec()
    except FreightError as err:
        launched.abort()
        c.state.update(new_state(), Error=str(err), ExitCode=err.exit_code)
        if c.host_config.get("AutoRemove"):
            _cleanup(store, c, None, remove_row=True, volumes=True)
        else:
            _save_state(store, c)
        _run_hooks(store, c, launched, "poststop")
        raise
    _run_hooks(store, c, launched, "poststart")
    if launched.proxy is not None:
        try:
            launched.proxy.start(f"/proc/{launched.pid}/ns/net")
        except FreightError:
            if not _exiting(launched.pid):  # else it exited first: there is nothing to relay to
                raise
        _record_ports(c, launched.proxy)
        _save_state(store, c, record=True)
    notify(ready_w, 0, str(launched.pid))
    try:
        code = _relay_and_wait(c.config, c.record["LogPath"], attach, launched)
    except BaseException:  # e.g. Ctrl-C without --sig-proxy: the container cannot outlive us
        _forward(launched.pid, signal.SIGKILL)
        _finish(store, c, launched, exit_code_of(launched.pid))
        raise
    _finish(store, c, launched, code)
    return code


def _exiting(pid: int) -> bool:
    """Whether our child ``pid`` (not yet reaped, so not reused) has released its namespaces,
    which it does on its way out."""
    try:
        os.readlink(f"/proc/{pid}/ns/net")
    except FileNotFoundError:
        return True
    return False


def _run_hooks(store: Any, c: Container, launched: _Launched, stage: str) -> None:
    """OCI poststart/poststop hooks, in our namespaces; a failure is only a warning."""
    if not launched.hooks or not launched.hooks.get(stage):
        return
    from freight.runtime.devices import oci_state, run_hooks

    status, pid = ("running", launched.pid) if stage == "poststart" else ("stopped", None)
    run_hooks(stage, launched.hooks[stage], oci_state(c.id, status, c.directory(store), pid),
              fatal=False)


def exit_code_of(pid: int) -> int:
    """Reap ``pid`` and return its Docker-style exit code."""
    from freight.runtime.launch import exit_code

    return exit_code(os.waitpid(pid, 0)[1])


def _record_ports(c: Container, proxy: Any) -> None:
    from freight.runtime.network import ports_json

    c.record["NetworkSettings"]["Ports"] = ports_json(proxy.bindings, c.config.get("ExposedPorts") or {})


def _launch(store: Any, c: Container, attach: Attach | None) -> _Launched:
    from freight.runtime import hostconfig as cfg
    from freight.runtime.launch import fork_container

    image = c.image or store.resolve_image(c.image_id)
    lowers = [p.name for p in reversed(store.layer_dirs(image))]
    lower_root = str(store.snapshots_root)
    if not lowers:  # an image without layers: overlayfs still needs one lower dir
        lower_root = c.directory(store)
        os.makedirs(f"{lower_root}/empty-lower", exist_ok=True)
        lowers = ["empty-lower"]
    spec = cfg.make_spec(c.record, c.directory(store), lowers, lower_root)
    edits = cfg.device_edits(c.host_config)
    if edits is not None:
        spec.devices += edits.devices
        spec.mounts += edits.mounts
        spec.env = edits.merge_env(spec.env)
        spec.group_add += [str(g) for g in edits.additional_gids]
    proxy = _port_proxy(c)
    try:
        io = _ChildStdio(spec, attach.stdout if attach is not None else None)
    except BaseException:
        _release(None, proxy)
        raise
    rules = edits.rules if edits is not None else []
    hooks = edits.hooks if edits is not None and edits.hooks else None
    try:
        # Always a cgroup, as Docker: its device rules keep CAP_MKNOD away from host disks.
        # It is made while the child builds its filesystem (see fork_container).
        pid, exec_r = fork_container(spec, io.stdio, make_cgroup=lambda: _cgroup(c, rules),
                                     hooks=hooks)
    except BaseException:
        io.abort()
        _release(spec.cgroup, proxy)
        raise
    finally:
        io.close_child_ends()
    return _Launched(pid, exec_r, io.sources, io.stdin_to, spec.cgroup, proxy, io.tty_sock, attach,
                     hooks)


def _release(cgroup: Any, proxy: Any) -> None:
    if cgroup is not None:
        cgroup.destroy()
    if proxy is not None:
        proxy.stop()


def _window_size(fd: int | None) -> bytes | None:
    """The packed window size of terminal ``fd``, or None when it is not a terminal."""
    if fd is None or not os.isatty(fd):
        return None
    import fcntl
    import termios

    return fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)


class _ChildStdio:
    """The pipes (or the socket a pty master comes back on) between a container process and us."""

    def __init__(self, spec: Any, terminal: int | None = None) -> None:
        from freight.runtime.launch import Stdio

        self.child_fds: list[int] = []
        self.sources: dict[int, str] = {}
        self.stdin_to: int | None = None
        self.tty_sock: Any = None
        if spec.tty:
            import socket

            self.tty_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.child_fds.append(child_sock.detach())
            self.stdio = Stdio(-1, -1, -1, tty_socket=self.child_fds[0], winsize=_window_size(terminal))
            return
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.sources = {out_r: "stdout", err_r: "stderr"}
        self.child_fds += [out_w, err_w]
        if spec.stdin:
            in_r, self.stdin_to = os.pipe()
        else:
            in_r = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        self.child_fds.append(in_r)
        self.stdio = Stdio(in_r, out_w, err_w)

    def close_child_ends(self) -> None:
        for fd in self.child_fds:
            os.close(fd)
        self.child_fds = []

    def abort(self) -> None:
        for fd in [*self.sources, *([self.stdin_to] if self.stdin_to is not None else [])]:
            os.close(fd)
        if self.tty_sock is not None:
            self.tty_sock.close()


def _receive_pty(sock: Any, attach: Attach | None) -> tuple[dict[int, str], int | None]:
    import socket

    from freight.runtime.stdio import copy_window_size

    try:
        _msg, fds, _flags, _addr = socket.recv_fds(sock, 16, 1)
    finally:
        sock.close()
    if not fds:
        return {}, None
    master = fds[0]
    os.set_inheritable(master, False)
    if attach is not None and attach.stdout is not None and os.isatty(attach.stdout):
        copy_window_size(attach.stdout, master)
    return {master: "stdout"}, master


def _port_proxy(c: Container) -> Any:
    """The bound (not yet relaying) proxy for -p/-P; None without published ports."""
    bindings = c.host_config.get("PortBindings") or {}
    publish_all = bool(c.host_config.get("PublishAllPorts") and c.config.get("ExposedPorts"))
    if not (bindings or publish_all) or c.host_config.get("NetworkMode") in ("host", "none"):
        return None
    from freight.runtime.network import PortBinding, PortProxy, expose_all

    wanted = []
    for key, entries in bindings.items():
        port, _, proto = key.partition("/")
        for b in entries or [{}]:
            host_port = str(b.get("HostPort") or "0")
            low, _, high = host_port.partition("-")
            wanted.append(PortBinding(int(port), proto or "tcp", b.get("HostIp") or "",
                                      int(low or 0), int(high or 0)))
    if publish_all:
        wanted += expose_all(c.config["ExposedPorts"], wanted)
    proxy = PortProxy(None, wanted)
    proxy.bind()
    return proxy


def _cgroup(c: Container, device_rules: list[Any]) -> Any:
    """The container's cgroup with its limits; device rules follow Docker's default deny list."""
    from freight.runtime import cgroups
    from freight.runtime.hostconfig import make_resources

    resources = make_resources(c.host_config)
    if resources.devices is not None:
        resources.devices = [*resources.devices, *device_rules]
    return cgroups.create(c.id, resources)


def _start_failed(store: Any, c: Container, inserted: bool, err: FreightError) -> None:
    """Docker keeps a container whose start failed, in state created with the error (unless --rm)."""
    if c.host_config.get("AutoRemove"):
        _cleanup(store, c, None, remove_row=inserted, volumes=True)
        return
    c.state.update(Error=str(err), ExitCode=err.exit_code)
    if inserted:
        _save_state(store, c)
    else:
        _insert(store, c)


def _relay_and_wait(config: dict[str, Any], log_path: str | None, attach: Attach | None,
                    launched: _Launched) -> int:
    """Relay the streams (and signals) until the process ends; its exit code."""
    import signal

    from freight.runtime.stdio import JsonLog, RawTerminal, Relay, copy_window_size

    tty = bool(config.get("Tty"))
    log = JsonLog(log_path) if log_path else None
    stdin_from = None
    if attach is not None and attach.stdin is not None and config.get("OpenStdin"):
        stdin_from = attach.stdin
    relay = Relay(launched.sources, log,
                  attach.stdout if attach else None,
                  (attach.stdout if tty else attach.stderr) if attach else None,
                  stdin_from, launched.stdin_to, close_stdin=not tty)
    previous = {}
    if attach is not None and attach.sig_proxy:
        for sig in signal.Signals:
            if sig.name in _SIGNALS_NOT_FORWARDED:
                continue
            try:
                previous[sig] = signal.signal(sig, lambda s, _f: _forward(launched.pid, s))
            except (OSError, ValueError):
                pass
    if tty and attach is not None and attach.stdout is not None and launched.stdin_to is not None:
        master, out = launched.stdin_to, attach.stdout
        previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH,
                                                  lambda _s, _f: copy_window_size(out, master))
    try:
        if tty and stdin_from is not None:
            with RawTerminal(stdin_from):
                relay.run()
        else:
            relay.run()
        return exit_code_of(launched.pid)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _finish(store: Any, c: Container, launched: _Launched, code: int) -> None:
    """Record the exit (one transaction) or, with --rm, remove everything."""
    if launched.proxy is not None:
        launched.proxy.stop()
    oom = bool(code == 137 and launched.cgroup is not None and launched.cgroup.oom_killed())
    if c.host_config.get("AutoRemove"):
        _cleanup(store, c, launched.cgroup, remove_row=True, volumes=True)
        _run_hooks(store, c, launched, "poststop")
        return
    if launched.cgroup is not None:
        launched.cgroup.destroy()
    c.state.update(Status="exited", Running=False, Pid=0, ExitCode=code, OOMKilled=oom,
                   FinishedAt=timestamp())
    for key in ("StartTime", "MonitorPid", "MonitorStartTime"):
        c.state.pop(key, None)
    _save_state(store, c)
    _run_hooks(store, c, launched, "poststop")


def _cleanup(store: Any, c: Container, cgroup: Any, remove_row: bool, volumes: bool = False) -> None:
    """Remove the container's row, cgroup, files and (``volumes``, or when it never got its
    row) anonymous volumes, holding its directory's lock (``containerdir``): a removal
    killed half-way is finished by a sweep."""
    from freight.runtime import containerdir
    from freight.runtime.volumes import anonymous_volumes, remove_volume
    from freight.store.db import transaction

    recorded = c.dir_lock is None  # its creator holds the lock until the row is in
    directory = c.directory(store)
    if recorded:
        c.dir_lock = containerdir.lock(directory)
    try:
        if cgroup is None:
            from freight.runtime import cgroups

            cgroup = cgroups.load(c.id)
        if cgroup is not None:
            cgroup.destroy()
        with transaction(store.db) as db:
            if remove_row:
                db.execute("DELETE FROM containers WHERE id = ?", (c.id,))
            for name in anonymous_volumes(c.record["Mounts"]) if volumes and recorded else ():
                remove_volume(db, store.root, name, force=True)
        if not recorded:
            containerdir.remove_unrecorded_volumes(store, anonymous_volumes(c.record["Mounts"]))
        containerdir.remove(directory)
    finally:
        _release_dir(c)


# ---------------------------------------------------------------- stop, kill, wait, remove


def parse_signal(value: str | int) -> int:
    """``KILL``, ``SIGKILL``, ``9`` -> 9 (Docker's names and numbers)."""
    import signal

    text = str(value).strip().upper()
    if text.isdigit():
        number = int(text)
        if 0 < number < 65:
            return number
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        sig = getattr(signal.Signals, name, None)
        if sig is not None:
            return int(sig)
    raise InvalidArgument(f"Invalid signal: {value}")


def kill(store: Any, ref: str, sig: str | int = "KILL") -> Container:
    c = get(store, ref)
    number = parse_signal(sig)
    if not c.running:
        raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
    _forward(c.pid, number)
    return c


def stop(store: Any, ref: str, timeout: int | None = None, sig: str | None = None) -> Container:
    """The stop signal (the image's, else SIGTERM), then SIGKILL after ``timeout`` seconds."""
    import signal

    c = get(store, ref)
    if not c.running:
        return c
    if timeout is None:
        timeout = c.config.get("StopTimeout")
        timeout = 10 if timeout is None else int(timeout)  # Docker's default
    number = parse_signal(sig or c.config.get("StopSignal") or "SIGTERM")
    _forward(c.pid, number)
    if not _wait_process_exit(c, timeout if timeout >= 0 else None):
        _forward(c.pid, signal.SIGKILL)
        _wait_process_exit(c, None)
    return wait_recorded(store, c.id)


def _wait_process_exit(c: Container, timeout: float | None) -> bool:
    """Wait for the container's process to end (pidfd: no polling); False on timeout."""
    import select

    try:
        fd = os.pidfd_open(c.pid)
    except OSError:
        return True
    try:
        if start_time(c.pid) != c.state.get("StartTime"):
            return True
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def wait_recorded(store: Any, cid: str, timeout: float = 30.0) -> Container:
    """The container once its supervisor recorded the exit (or removed it: then NotFound)."""
    deadline = time.monotonic() + timeout
    while True:
        c = get(store, cid)
        if not c.running or time.monotonic() > deadline:
            return c
        time.sleep(0.01)


def wait(store: Any, ref: str) -> int:
    """``docker wait``: block until the container stops; its exit code."""
    c = get(store, ref)
    if c.running:
        _wait_process_exit(c, None)
        c = wait_recorded(store, c.id)
    return int(c.state.get("ExitCode") or 0)


def remove(store: Any, ref: str, force: bool = False, volumes: bool = False) -> Container:
    """``docker rm``: a running container only with ``force`` (killed first)."""
    import signal

    c = get(store, ref)
    if c.running:
        if not force:
            raise Conflict(f'cannot remove container "{c.record["Name"]}": container is running: '
                           f"stop the container before removing or force remove")
        _forward(c.pid, signal.SIGKILL)
        _wait_process_exit(c, None)
        try:
            c = wait_recorded(store, c.id)
        except NotFound:  # its --rm supervisor removed it
            return c
    _cleanup(store, c, None, remove_row=True, volumes=volumes)
    return c


# ---------------------------------------------------------------- exec


def exec_in(store: Any, ref: str, cmd: list[str], env: list[str] = (), user: str = "",
            workdir: str = "", tty: bool = False, interactive: bool = False,
            privileged: bool = False, attach: Attach | None = None, ready_w: int | None = None) -> int:
    """``docker exec``: run ``cmd`` in the running container's namespaces and cgroup.

    Its environment is the container's plus ``env``; user and working directory
    default to the container's. Returns the command's exit code (127/126 errors raise).
    ``ready_w`` (a monitor's) gets ``0 <pid>`` once the command runs.
    """
    from freight.runtime import hostconfig as cfg
    from freight.runtime.launch import fork_container

    c = get_running(store, ref)
    if not cmd:
        raise InvalidArgument("exec: no command given")
    spec = cfg.make_spec(c.record, c.directory(store), [], None)
    spec.args = list(cmd)
    spec.env = cfg.merge_env(spec.env, list(env))
    spec.user = user or spec.user
    spec.cwd = workdir or spec.cwd
    spec.tty, spec.stdin, spec.init = tty, interactive, False
    if privileged:
        from freight.runtime.caps import all_caps

        spec.caps = all_caps()
    from freight.runtime import cgroups

    spec.cgroup = cgroups.load(c.id)
    io = _ChildStdio(spec, attach.stdout if attach is not None else None)
    try:
        pid, exec_r = fork_container(spec, io.stdio, join_pid=c.pid)
    except BaseException:
        io.abort()
        raise
    finally:
        io.close_child_ends()
    launched = _Launched(pid, exec_r, io.sources, io.stdin_to, None, None, io.tty_sock, attach)
    try:
        launched.wait_exec()
    except FreightError:
        launched.abort()
        raise
    notify(ready_w, 0, str(pid))
    relay_config = {"Tty": tty, "OpenStdin": interactive}
    return _relay_and_wait(relay_config, None, attach, launched)
