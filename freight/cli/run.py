"""Commands that start containers: ``run``, ``create``, ``start``.

Flags follow ``docker run``; everything after IMAGE is the command. ``run`` and
``create`` turn their flags into the Docker API's create body (``body_from_args``);
a bad flag value prints Docker's one line (``freight: invalid argument "abc" for
"-m, --memory" flag: ...``) and exits 125 before anything is created. Modules only
one optional flag needs (``--device``, ``-p``, ``--gpus``, ...) are imported when
it is given.
"""

from __future__ import annotations

import argparse
import sys

from freight.cli.common import detach_keys, each, env_from_flags, flag_error, parse_bool, parse_int, usage_error
from freight.cli.main import Subcommands, exit_now, store
from freight.cli.policies import health_flags
from freight.cli.resources import add_resource_flags, memory_and_cpus
from freight.errors import FreightError, InvalidArgument
from freight.runtime import supervise
from freight.runtime.childio import Attach
from freight.runtime.create import create
from freight.runtime.hostconfig import parse_ulimit
from freight.runtime.limits import parse_memory
from freight.runtime.mounts import parse_mount_flag
from freight.runtime.netsandbox import default_network_warning
from freight.runtime.restart import parse_policy
from freight.runtime.seccomp import read_profile
from freight.runtime.signals import parse_signal

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.store import Store

_DEFAULT_SIGNAL_HELP = "Signal to stop the container"


def register(sub: Subcommands) -> None:
    p = sub.add("run", cmd_run, help="Create and run a new container from an image", add_help=False,
                error_code=125)
    add_run_arguments(p, run=True)
    p = sub.add("create", cmd_create, help="Create a new container", add_help=False, error_code=125)
    add_run_arguments(p, run=False)
    p = sub.add("start", cmd_start, help="Start one or more stopped containers")
    p.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR and forward signals")
    p.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
    p.add_argument("--detach-keys", help="Override the key sequence for detaching a container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def add_run_arguments(p: argparse.ArgumentParser, run: bool = True) -> None:
    """Docker's ``run``/``create`` flags, then IMAGE [COMMAND [ARG...]]."""
    a = p.add_argument
    a("--help", action="help", help="Print usage")
    if run:
        a("-d", "--detach", action="store_true", help="Run container in background and print container ID")
        a("--sig-proxy", type=parse_bool, nargs="?", const=True, default=True,
          help="Proxy received signals to the process")
        a("--detach-keys", help="Override the key sequence for detaching a container")
    a("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    a("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    a("--rm", action="store_true", help="Automatically remove the container when it exits")
    a("--name", help="Assign a name to the container")
    a("-h", "--hostname", help="Container host name")
    a("-e", "--env", action="append", default=[], help="Set environment variables")
    a("--env-file", action="append", default=[], help="Read in a file of environment variables")
    a("-w", "--workdir", help="Working directory inside the container")
    a("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    a("--group-add", action="append", default=[], help="Add additional groups to join")
    a("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    a("-v", "--volume", action="append", default=[], help="Bind mount a volume")
    a("--mount", action="append", default=[], help="Attach a filesystem mount to the container")
    a("--tmpfs", action="append", default=[], help="Mount a tmpfs directory")
    a("-p", "--publish", action="append", default=[], help="Publish a container's port(s) to the host")
    a("-P", "--publish-all", action="store_true", help="Publish all exposed ports to random ports")
    a("--expose", action="append", default=[], help="Expose a port or a range of ports")
    a("--network", "--net", default="default", help="Connect a container to a network")
    a("--network-alias", "--net-alias", action="append", default=[], help="Add network-scoped alias for the container")
    a("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
    a("--ip6", default="", help="IPv6 address (e.g., 2001:db8::33)")
    a("--mac-address", default="", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)")
    a("--add-host", action="append", default=[], help="Add a custom host-to-IP mapping (host:ip)")
    a("--dns", action="append", default=[], help="Set custom DNS servers")
    a("--dns-search", action="append", default=[], help="Set custom DNS search domains")
    a("--dns-option", "--dns-opt", action="append", default=[], help="Set DNS options")
    a("--read-only", action="store_true", help="Mount the container's root filesystem as read only")
    a("--init", action="store_true", help="Run an init inside the container that forwards signals and reaps processes")
    a("--cap-add", action="append", default=[], help="Add Linux capabilities")
    a("--cap-drop", action="append", default=[], help="Drop Linux capabilities")
    a("--privileged", action="store_true", help="Give extended privileges to this container")
    a("--security-opt", action="append", default=[], help="Security Options")
    a("--ulimit", action="append", default=[], help="Ulimit options")
    add_resource_flags(p)
    a("--device", action="append", default=[], help="Add a host device to the container")
    a("--gpus", help="GPU devices to add to the container ('all' to pass all GPUs)")
    a("--pid", default="", help="PID namespace to use")
    a("--ipc", default="", help="IPC mode to use")
    a("--uts", default="", help="UTS namespace to use")
    a("-l", "--label", action="append", default=[], help="Set meta data on a container")
    a("--stop-signal", help=_DEFAULT_SIGNAL_HELP)
    a("--stop-timeout", help="Timeout (in seconds) to stop a container")
    a("--runtime", help="Runtime to use for this container")
    a("--restart", default="no", help="Restart policy to apply when a container exits")
    a("--health-cmd", help="Command to run to check health")
    a("--health-interval", help="Time between running the check (ms|s|m|h) (default 0s)")
    a("--health-retries", help="Consecutive failures needed to report unhealthy")
    a("--health-start-period", help="Start period for the container to initialize before starting "
      "health-retries countdown (ms|s|m|h) (default 0s)")
    a("--health-start-interval", help="Time between running the check during the start period (ms|s|m|h) "
      "(default 0s)")
    a("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
    a("--no-healthcheck", action="store_true", help="Disable any container-specified HEALTHCHECK")
    a("--pull", default="missing", choices=("always", "missing", "never"),
      help='Pull image before running ("always", "missing", "never")')
    a("--platform", help="Set platform if server is multi-platform capable")
    a("--shm-size", help="Size of /dev/shm")
    a("--cidfile", help="Write the container ID to the file")
    a("--log-driver", help="Logging driver for the container")
    a("--log-opt", action="append", default=[], help="Log driver options")
    a("image", metavar="IMAGE")
    a("command", nargs=argparse.REMAINDER, metavar="COMMAND").required = False  # not in "required:" errors


# ---------------------------------------------------------------- flags -> create body


def _labels(values: list[str]) -> dict[str, str]:
    labels = {}
    for item in values:
        key, _, value = item.partition("=")
        labels[key] = value
    return labels


def _namespace_mode(value: str, flag: str) -> str:
    if value not in ("", "host", "private", "shareable"):
        raise flag_error(value, flag, f"invalid {flag.lstrip('-').upper()} mode")
    return "" if value in ("private", "shareable") else value


def _devices(values: list[str], host: dict[str, Any]) -> None:
    """``--device``: host paths to HostConfig.Devices, CDI names to a "cdi" DeviceRequest."""
    if not values:
        return
    from freight.runtime import devices  # this and the other flag-only imports: only when given

    for value in values:
        request = devices.parse_device(value)
        if request.cdi_name:
            host.setdefault("DeviceRequests", []).append(
                {"Driver": "cdi", "Count": 0, "DeviceIDs": [request.cdi_name], "Capabilities": None,
                 "Options": {}})
        else:
            host.setdefault("Devices", []).append(
                {"PathOnHost": request.path_on_host, "PathInContainer": request.path_in_container,
                 "CgroupPermissions": request.permissions})


def _resources(args: argparse.Namespace, host: dict[str, Any]) -> None:
    if not any((args.memory, args.memory_swap, args.memory_reservation, args.cpus, args.cpu_shares,
                args.cpuset_cpus, args.pids_limit)):
        return
    host.update(memory_and_cpus(args))
    host["CpuShares"] = parse_int(args.cpu_shares, "-c, --cpu-shares") or 0


def _ports(args: argparse.Namespace, config: dict[str, Any], host: dict[str, Any]) -> None:
    if not (args.publish or args.expose or args.publish_all):
        return
    from freight.runtime import ports

    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in args.publish:
        for b in ports.parse_publish(spec):
            port = str(b.host_port) if b.host_port else ""
            if b.host_port_end:
                port = f"{b.host_port}-{b.host_port_end}"
            bindings.setdefault(b.key, []).append({"HostIp": b.host_ip, "HostPort": port})
    exposed: dict[str, dict[str, str]] = {key: {} for key in bindings}
    for value in args.expose:
        port, _, proto = value.partition("/")
        _check_expose(value, port, proto)
        exposed[f"{port}/{proto or 'tcp'}"] = {}
    if exposed:
        config["ExposedPorts"] = exposed
    host["PortBindings"] = bindings
    host["PublishAllPorts"] = bool(args.publish_all)


def _check_expose(value: str, port: str, proto: str) -> None:
    """``--expose PORT[-END][/PROTO]``, refused with Docker's message when malformed."""
    first, _, last = port.partition("-")
    for number in (first, last) if last else (first,):
        if not number.isdigit() or int(number) > 65535:
            raise InvalidArgument(f'invalid range format for --expose: {value}, error: '
                                  f'strconv.ParseUint: parsing "{number}": invalid syntax')
    if proto not in ("", "tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid proto: {proto}")


def body_from_args(args: argparse.Namespace) -> tuple[dict[str, Any], str | None]:
    """The Docker API create body (Config with HostConfig) for ``run``/``create`` flags."""
    host: dict[str, Any] = {
        "Binds": args.volume or None, "Mounts": [parse_mount_flag(m) for m in args.mount] or None,
        "Tmpfs": {t.partition(":")[0]: t.partition(":")[2] for t in args.tmpfs} or None,
        "NetworkMode": _network(args.network), "ReadonlyRootfs": args.read_only, "Init": args.init,
        "CapAdd": args.cap_add or None, "CapDrop": args.cap_drop or None, "Privileged": args.privileged,
        "SecurityOpt": _security_opts(args.security_opt) or None,
        "Ulimits": [parse_ulimit(u) for u in args.ulimit] or None, "GroupAdd": args.group_add or None,
        "PidMode": _namespace_mode(args.pid, "--pid"), "IpcMode": _namespace_mode(args.ipc, "--ipc"),
        "UTSMode": _namespace_mode(args.uts, "--uts"), "AutoRemove": args.rm,
        "ExtraHosts": [_extra_host(h) for h in args.add_host] or None, "Dns": [_dns_server(s) for s in args.dns],
        "DnsSearch": args.dns_search, "DnsOptions": args.dns_option,
        "ContainerIDFile": args.cidfile or "", "LogConfig": _log_config(args),
    }
    if args.runtime:
        host["Runtime"] = args.runtime
    if args.shm_size:
        host["ShmSize"] = parse_memory(args.shm_size, "--shm-size")
    _devices(args.device, host)
    if args.gpus:
        host.setdefault("DeviceRequests", []).append(_gpus(args.gpus))
    _resources(args, host)
    config: dict[str, Any] = {
        "Image": args.image, "Cmd": list(args.command) or None, "Env": env_from_flags(args),
        "Hostname": args.hostname or "", "WorkingDir": args.workdir or "", "User": args.user or "",
        "Tty": args.tty, "OpenStdin": args.interactive, "StdinOnce": args.interactive,
        "AttachStdin": args.interactive, "AttachStdout": not getattr(args, "detach", False),
        "AttachStderr": not getattr(args, "detach", False), "Labels": _labels(args.label),
        "StopSignal": args.stop_signal or "", "HostConfig": host,
    }
    if args.entrypoint is not None:
        config["Entrypoint"] = [args.entrypoint]
    if args.stop_timeout is not None:
        config["StopTimeout"] = parse_int(args.stop_timeout, "--stop-timeout")
    if args.stop_signal:
        parse_signal(args.stop_signal)
    if args.workdir and not args.workdir.startswith("/"):
        raise InvalidArgument(f"the working directory '{args.workdir}' is invalid, it needs to be an absolute path")
    _ports(args, config, host)
    if args.network_alias or args.ip or args.ip6 or args.mac_address:
        wanted = {k: v for k, v in (("IPv4Address", args.ip), ("IPv6Address", args.ip6)) if v}
        endpoint = {"Aliases": args.network_alias or None, "IPAMConfig": wanted or None,
                    "MacAddress": args.mac_address}
        name = "bridge" if host["NetworkMode"] == "default" else host["NetworkMode"]
        config["NetworkingConfig"] = {"EndpointsConfig": {name: endpoint}}
    if args.mac_address:  # also kept where Docker's older API keeps it: the next start uses it again
        config["MacAddress"] = args.mac_address
    _policies(args, config, host)
    return config, args.name


def _dns_server(value: str) -> str:
    """``--dns IP``, checked as Docker's client checks it (the network's DNS forwards to it)."""
    import ipaddress  # only --dns needs it

    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise flag_error(value, "--dns", f"{value} is not an ip address") from None
    return value


def _extra_host(value: str) -> str:
    """``--add-host NAME:IP`` (or ``NAME=IP``), checked as Docker's client checks it."""
    name, sep, address = value.replace("=", ":", 1).partition(":")
    if not sep or not name or not address:
        raise InvalidArgument(f'invalid argument "{value}" for "--add-host" flag: bad format for add-host: "{value}"')
    return f"{name}:{address}"


def _log_config(args: argparse.Namespace) -> dict[str, Any]:
    options = {}
    for opt in args.log_opt:
        key, sep, value = opt.partition("=")
        if not sep:
            raise InvalidArgument(f'invalid argument "{opt}" for "--log-opt" flag: invalid key value pair format')
        options[key] = value
    return {"Type": args.log_driver or "json-file", "Config": options}


def _policies(args: argparse.Namespace, config: dict[str, Any], host: dict[str, Any]) -> None:
    """``--restart`` and the health check flags (``freight.cli.policies``)."""
    host["RestartPolicy"] = parse_policy(args.restart)
    if args.rm and host["RestartPolicy"]["Name"] != "no":
        raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
    check = health_flags(args)
    if check is not None:
        config["Healthcheck"] = check


def _security_opts(values: list[str]) -> list[str]:
    """``--security-opt`` as Docker's client sends it: a seccomp profile file goes as its JSON."""
    out = []
    for opt in values:
        key, sep, value = opt.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, value = opt.partition(":")
        if (not sep or not value) and key != "no-new-privileges":
            raise InvalidArgument(f'Invalid --security-opt: "{opt}"')
        if key == "seccomp" and value not in ("builtin", "unconfined"):
            opt = "seccomp=" + read_profile(value)
        out.append(opt)
    return out


def _network(value: str) -> str:
    from freight.runtime.network import parse_network_mode

    return parse_network_mode(value)


def _gpus(value: str) -> dict[str, Any]:
    """``--gpus`` as the Docker API's DeviceRequest."""
    from freight.runtime import gpus

    r = gpus.parse_gpus(value)
    return {"Driver": r.driver, "Count": r.count, "DeviceIDs": r.device_ids,
            "Capabilities": r.capabilities, "Options": r.options or {}}


def _body_and_image(args: argparse.Namespace) -> tuple[Store, dict[str, Any], str | None] | int:
    """``run``/``create``: the create body of the flags (or a usage error's exit status),
    with the store once it holds the image."""
    try:
        body, name = body_from_args(args)
        args.keys = detach_keys(getattr(args, "detach_keys", None))
    except InvalidArgument as err:
        return usage_error(args, err)
    st = store(args)
    _ensure_image(st, args.image, args.pull, args.platform)
    return st, body, name


def _network_warning(body: dict[str, Any]) -> None:
    """After ``create`` or ``run -d``, as Docker prints the create response's Warnings: a rootless
    container whose default network is its loopback alone (the monitor of a foreground ``run``
    tells its viewer itself)."""
    if warning := default_network_warning(body["HostConfig"]):
        sys.stderr.write(f"WARNING: {warning}\n")


def cmd_run(args: argparse.Namespace) -> int:
    prepared = _body_and_image(args)
    if isinstance(prepared, int):
        return prepared
    st, body, name = prepared
    if args.detach:
        print(supervise.run(st, body, name, detach=True), flush=True)
        _network_warning(body)
        exit_now(0)
    attach = Attach(stdin=0 if args.interactive else None, sig_proxy=args.sig_proxy, detach_keys=args.keys)
    code = supervise.run(st, body, name, attach=attach)
    assert isinstance(code, int)
    exit_now(code)


def cmd_create(args: argparse.Namespace) -> int:
    prepared = _body_and_image(args)
    if isinstance(prepared, int):
        return prepared
    st, body, name = prepared
    print(create(st, body, name).id, flush=True)
    _network_warning(body)
    return 0


def _ensure_image(st: Store, ref: str, policy: str, platform: str | None = None) -> None:
    """Docker's ``--pull``: by default pull only an image the store lacks (the registry
    client is imported only then), showing the pull's progress on stderr; with
    ``--platform``, an image of another platform counts as missing."""
    local = st.images.lookup(ref)
    if local is not None and platform and not _platform_matches(local.config, platform):
        if policy == "never":
            raise FreightError(f"image with reference {ref} was found but does not match the specified "
                               f"platform: wanted {platform}")
        local = None
    if policy == "never" or (policy == "missing" and local is not None):
        return
    from freight.registry import pull  # the registry client: only for an image the store lacks
    from freight.registry.progress import reporter

    try:
        if policy == "always" or local is None and platform:
            progress = reporter(stream=sys.stderr)
            try:
                pull.pull(st, ref, platform, progress)
            finally:
                progress.close()
        else:
            pull.ensure_image(st, ref, platform)
    except FreightError as err:  # run/create report a failed pull as an engine error (125)
        if err.exit_code == FreightError.exit_code:
            raise
        raise FreightError(str(err)) from None


def _platform_matches(config: dict[str, Any], wanted: str) -> bool:
    from freight.image import platform  # only --platform needs it

    have = {"os": config.get("os", ""), "architecture": config.get("architecture", "")}
    if config.get("variant"):
        have["variant"] = config["variant"]
    return platform.matches(have, platform.parse(wanted))


def cmd_start(args: argparse.Namespace) -> int:
    st = store(args)
    if args.attach or args.interactive:
        if len(args.containers) > 1:
            raise InvalidArgument("you cannot start and attach multiple containers at once")
        attach = Attach(stdin=0 if args.interactive else None, detach_keys=detach_keys(args.detach_keys))
        return supervise.start(st, args.containers[0], attach) or 0
    failed: list[str] = []

    def start_one(ref: str) -> None:
        try:
            supervise.start(st, ref)
        except FreightError:
            failed.append(ref)
            raise

    each(args.containers, start_one)
    if failed:  # the docker CLI's own line under the engine's
        raise FreightError(f"failed to start containers: {', '.join(failed)}")
    return 0
