"""From Docker's create request to a stored container, and from that to a ``ContainerSpec``.

The create request is the body of Docker's ``POST /containers/create``: a
``Config`` dict with ``HostConfig`` inside (the CLI builds the same shape
from its flags). ``merge_image_config`` applies the image's defaults the way
the Docker daemon does; ``make_spec`` turns a stored record into what the
launcher needs, each time the container starts.
"""

from __future__ import annotations

import os
import stat

from freight.errors import FreightError, InvalidArgument
from freight.runtime import caps as capabilities
from freight.runtime import seccomp
from freight.runtime import syscalls as sc
from freight.runtime.limits import Resources
from freight.runtime.spec import NETWORK_HOST, NETWORK_PRIVATE, ContainerSpec, DeviceNode, Mount

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.runtime.cdi import ContainerEdits
    from freight.store.snapshots import SnapshotMount

ULIMIT_NAMES = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
                "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")
_RLIMIT_NUMBERS = {"cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6,
                   "nofile": 7, "memlock": 8, "as": 9, "locks": 10, "sigpending": 11,
                   "msgqueue": 12, "nice": 13, "rtprio": 14, "rttime": 15}
_RESOURCE_KEYS = ("Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuPeriod", "CpuQuota",
                  "CpuShares", "CpusetCpus", "CpusetMems", "PidsLimit")


def merge_image_config(body: dict[str, Any], image_config: dict[str, Any]) -> dict[str, Any]:
    """Docker's container Config: the request with the image's defaults filled in.

    ``Entrypoint`` given (even empty) replaces the image's and, when no ``Cmd``
    is given, clears the image's ``Cmd`` too; ``Cmd`` given replaces the image's.
    """
    image = image_config.get("config") or {}
    config = {k: v for k, v in body.items() if k != "HostConfig"}
    entrypoint = body.get("Entrypoint")
    cmd = body.get("Cmd")
    if entrypoint is None:
        entrypoint = image.get("Entrypoint")
        if cmd is None:
            cmd = image.get("Cmd")
    elif entrypoint == [""]:
        entrypoint = None
    config["Entrypoint"] = entrypoint or None
    config["Cmd"] = cmd or None
    config["Env"] = merge_env(image.get("Env") or [], body.get("Env") or [])
    for key in ("WorkingDir", "User", "StopSignal"):
        config[key] = body.get(key) or image.get(key) or ""
    if body.get("StopTimeout") is None and image.get("StopTimeout") is not None:
        config["StopTimeout"] = image["StopTimeout"]
    config["Labels"] = {**(image.get("Labels") or {}), **(body.get("Labels") or {})}
    config["Volumes"] = {**(image.get("Volumes") or {}), **(body.get("Volumes") or {})} or None
    config["ExposedPorts"] = {**(image.get("ExposedPorts") or {}),
                              **(body.get("ExposedPorts") or {})} or None
    for key, default in (("Tty", False), ("OpenStdin", False), ("AttachStdin", False),
                         ("AttachStdout", False), ("AttachStderr", False), ("StdinOnce", False),
                         ("Domainname", ""), ("Hostname", "")):
        config.setdefault(key, default)
    healthcheck = _merge_health(body.get("Healthcheck"), image.get("Healthcheck"))
    if healthcheck:
        config["Healthcheck"] = healthcheck
    if not (config["Entrypoint"] or config["Cmd"]):
        raise FreightError("no command specified")
    return config


def _merge_health(wanted: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """The container's Healthcheck, Docker's way: the request's, its unset fields from the image's."""
    if not wanted:
        return image or None
    if not image:
        return wanted
    return {**image, **{k: v for k, v in wanted.items() if v}}


def merge_env(image_env: list[str], env: list[str]) -> list[str]:
    merged: dict[str, str] = {}
    for item in [*image_env, *env]:
        merged[item.partition("=")[0]] = item
    return list(merged.values())


def command_of(config: dict[str, Any]) -> list[str]:
    return [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]


# ---------------------------------------------------------------- host config checks


def parse_ulimit(text: str) -> dict[str, Any]:
    """``nofile=1024:2048`` -> Docker's ``{"Name", "Soft", "Hard"}``."""
    name, sep, values = text.partition("=")
    if not sep or name not in ULIMIT_NAMES:
        raise InvalidArgument(f'invalid argument "{text}" for "--ulimit" flag: invalid ulimit type: {name}')
    soft_text, _, hard_text = values.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if hard_text else soft
    except ValueError:
        raise InvalidArgument(f'invalid argument "{text}" for "--ulimit" flag: '
                              f'invalid ulimit argument: {values}') from None
    if soft > hard:
        raise InvalidArgument(f'invalid argument "{text}" for "--ulimit" flag: '
                              f'ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}')
    return {"Name": name, "Soft": soft, "Hard": hard}


def check_ulimits(ulimits: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    """The rlimits to set, refusing a hard limit above ours (that needs CAP_SYS_RESOURCE)."""
    import resource  # only --ulimit needs it

    out = []
    for u in ulimits:
        number = _RLIMIT_NUMBERS[u["Name"]]
        soft, hard = int(u["Soft"]), int(u["Hard"])
        soft, hard = (resource.RLIM_INFINITY if v < 0 else v for v in (soft, hard))
        current_hard = resource.getrlimit(number)[1]
        if current_hard != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or hard > current_hard):
            raise InvalidArgument(f"ulimit {u['Name']}: hard limit {u['Hard']} is above this "
                                  f"process's hard limit {current_hard}, which cannot be raised")
        out.append((number, soft, hard))
    return out


def resources_requested(host: dict[str, Any]) -> bool:
    return any(host.get(k) for k in _RESOURCE_KEYS)


def make_resources(host: dict[str, Any]) -> Resources:
    """The container's limits (for ``cgroups.create``) from its HostConfig."""
    nano = host.get("NanoCpus") or 0
    res = Resources(
        memory=host.get("Memory") or None, memory_swap=host.get("MemorySwap") or None,
        memory_reservation=host.get("MemoryReservation") or None,
        cpus=nano / 1e9 if nano else None, cpu_period=host.get("CpuPeriod") or None,
        cpu_quota=host.get("CpuQuota") or None, cpu_shares=host.get("CpuShares") or None,
        cpuset_cpus=host.get("CpusetCpus") or None, cpuset_mems=host.get("CpusetMems") or None,
        pids_limit=host.get("PidsLimit") or None)
    if host.get("Privileged"):
        res.devices = None
    return res


def validate_host_config(host: dict[str, Any]) -> None:
    """Reject what would fail at start, so ``create`` fails instead (exit 125)."""
    privileged = bool(host.get("Privileged"))
    caps = capabilities.effective_list(host.get("CapAdd") or [], host.get("CapDrop") or [], privileged)
    if host.get("Ulimits"):
        check_ulimits(host["Ulimits"])
    if host.get("Init"):
        init_binary()
    check_log_config(host.get("LogConfig") or {})
    if resources_requested(host):
        make_resources(host).validate()
    _check_port_bindings(host.get("PortBindings") or {})
    profile, _ = security_options(host)
    if profile not in (None, seccomp.UNCONFINED, seccomp.BUILTIN):
        seccomp.container_profile(profile, privileged, caps)  # a bad profile fails here, not at start


def _check_port_bindings(bindings: dict[str, Any]) -> None:
    """``PortBindings`` as Docker's nat package reads them: ``PORT[/PROTO]`` keys, host ports
    that are empty, a number or a range."""
    if not isinstance(bindings, dict):
        raise InvalidArgument("invalid port bindings: an object of port keys was expected")
    for key, entries in bindings.items():
        port, _, proto = key.partition("/")
        if not port.isdigit() or not 0 < int(port) < 65536 or proto not in ("", "tcp", "udp", "sctp"):
            raise InvalidArgument(f'invalid port specification: "{key}"')
        for entry in entries or []:
            host_port = str((entry or {}).get("HostPort") or "")
            if host_port and not all(p.isdigit() and int(p) < 65536 for p in host_port.split("-", 1)):
                raise InvalidArgument(f'invalid port specification: "{host_port}"')


_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def security_options(host: dict[str, Any]) -> tuple[str | None, bool]:
    """``SecurityOpt`` read as the Docker daemon reads it: the ``seccomp=`` value (None
    when not given) and no-new-privileges; ``label`` and ``apparmor`` are accepted and
    have no effect here."""
    profile, no_new_privs = None, False
    for opt in host.get("SecurityOpt") or []:
        if opt == "no-new-privileges":
            no_new_privs = True
            continue
        key, sep, value = opt.partition("=") if "=" in opt else opt.partition(":")
        if not sep:
            raise InvalidArgument(f'invalid --security-opt 1: "{opt}"')
        if key == "seccomp":
            profile = value or None
        elif key == "no-new-privileges" and value in _TRUE + _FALSE:
            no_new_privs = value in _TRUE
        elif key not in ("label", "apparmor"):
            raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
    return profile, no_new_privs


# ---------------------------------------------------------------- the spec


INIT_BINARY = "/usr/bin/tini-static"  # Docker's docker-init is tini; Debian's tini package ships it static
INIT_PATH = "/sbin/docker-init"  # where Docker's init is in the container


def init_binary() -> str:
    """``--init``'s PID 1 on the host (static: it works in any image)."""
    if not os.path.isfile(INIT_BINARY):
        raise FreightError(f"--init needs {INIT_BINARY} (Debian package tini): it is not installed")
    return INIT_BINARY


LOG_DRIVERS = ("json-file", "local", "none")
_LOG_DEFAULTS = {"json-file": (0, 1), "local": (20 * 1000 * 1000, 5), "none": (0, 1)}


def log_limits(host: dict[str, Any]) -> tuple[int, int]:
    """(max size in bytes, files kept) of the container's log (``--log-opt max-size/max-file``;
    the ``local`` driver's defaults are Docker's: 20 MB, 5 files)."""
    log = host.get("LogConfig") or {}
    size, files = _LOG_DEFAULTS.get(log.get("Type") or "json-file", (0, 1))
    options = log.get("Config") or {}
    if "max-size" in options:
        size = parse_log_size(options["max-size"])
    if "max-file" in options:
        files = int(options["max-file"])
    return size, files


def parse_log_size(text: str) -> int:
    """``max-size``: go-units RAMInBytes (``10k``, ``10m``, ``1g``: binary multiples)."""
    import re  # only a log with a size limit needs it

    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?", text.strip().lower())
    if not match:
        raise InvalidArgument(f"invalid size: '{text}'")
    return int(float(match[1]) * 1024 ** " kmgtp".index(match[2] or " "))


def check_log_config(log: dict[str, Any]) -> None:
    """Refuse a log driver or option this engine does not have, as Docker's daemon does."""
    driver = log.get("Type") or "json-file"
    if driver not in LOG_DRIVERS:
        raise FreightError(f'error looking up logging plugin {driver}: plugin "{driver}" not found')
    options = log.get("Config") or {}
    for key, value in options.items():
        if key not in ("max-size", "max-file") or driver == "none":
            raise InvalidArgument(f"unknown log opt '{key}' for {driver} log driver")
        if key == "max-size":
            parse_log_size(value)
        elif not value.isdigit() or int(value) < 1:
            raise InvalidArgument("max-file cannot be less than 1")


def network_mode(host: dict[str, Any]) -> str:
    return NETWORK_HOST if host.get("NetworkMode") == "host" else NETWORK_PRIVATE


def make_spec(record: dict[str, Any], container_dir: str, rootfs: list[SnapshotMount]) -> ContainerSpec:
    """What the launcher needs to start the stored container ``record``."""
    config = record["Config"]
    host = record["HostConfig"]
    privileged = bool(host.get("Privileged"))
    caps = capabilities.effective_list(host.get("CapAdd") or [], host.get("CapDrop") or [], privileged)
    profile, no_new_privs = security_options(host)
    spec = ContainerSpec(
        id=record["Id"], container_dir=container_dir, rootfs=rootfs,
        args=command_of(config), env=list(config.get("Env") or []),
        cwd=config.get("WorkingDir") or "/", user=config.get("User") or "",
        group_add=list(host.get("GroupAdd") or []), hostname=config.get("Hostname") or "",
        tty=bool(config.get("Tty")), stdin=bool(config.get("OpenStdin")),
        network=network_mode(host), pid_host=host.get("PidMode") == "host",
        ipc_host=host.get("IpcMode") == "host", uts_host=host.get("UTSMode") == "host",
        readonly_rootfs=bool(host.get("ReadonlyRootfs")), privileged=privileged, caps=caps,
        no_new_privileges=no_new_privs, seccomp=seccomp.container_profile(profile, privileged, caps),
        ulimits=check_ulimits(host["Ulimits"]) if host.get("Ulimits") else [],
        mounts=spec_mounts(record), devices=privileged_devices(host))
    if host.get("Init"):
        spec.args = [INIT_PATH, "--", *spec.args]
        spec.mounts.append(Mount("bind", INIT_PATH, init_binary(), readonly=True))
    if host.get("ShmSize") and not spec.ipc_host:
        spec.shm_size = int(host["ShmSize"])
    if spec.network == NETWORK_HOST and spec.uts_host is False and not config.get("Hostname"):
        spec.uts_host = True
    return spec


def spec_mounts(record: dict[str, Any]) -> list[Mount]:
    """Binds, volumes and tmpfs mounts as stored in the record (see ``freight.runtime.mounts``)."""
    out = []
    tmpfs = dict(record["HostConfig"].get("Tmpfs") or {})
    for m in record.get("Mounts") or []:
        if m["Type"] == "tmpfs":
            tmpfs[m["Destination"]] = ",".join(filter(None, ["ro" if not m["RW"] else "",
                                                             m.get("TmpfsOptions", "")]))
            continue
        copy_up = m["Type"] == "volume" and not m.get("NoCopy") and not os.listdir(m["Source"])
        out.append(Mount("bind", m["Destination"], m["Source"], readonly=not m["RW"], copy_up=copy_up))
    for target, options in tmpfs.items():
        flags, data = tmpfs_options(options)
        out.append(Mount("tmpfs", target, flags=flags & ~sc.MS_RDONLY, data=data,
                         readonly=bool(flags & sc.MS_RDONLY)))
    return out


_TMPFS_FLAGS = {"ro": 1, "rw": 0, "nosuid": 2, "suid": 0, "nodev": 4, "dev": 0, "noexec": 8,
                "exec": 0, "sync": 16, "async": 0, "noatime": 1024, "atime": 0, "nodiratime": 2048,
                "diratime": 0, "relatime": 1 << 21, "norelatime": 0, "strictatime": 1 << 24,
                "nostrictatime": 0, "dirsync": 128, "mand": 64, "nomand": 0, "defaults": 0}
# The data options Docker passes to tmpfs (moby/sys/mount's ParseTmpfsOptions); other
# words it knows as mount flags are left for the kernel to judge.
_TMPFS_DATA = frozenset({"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"})
_MOUNT_FLAG_WORDS = frozenset({"bind", "rbind", "remount", "unbindable", "runbindable", "private", "rprivate",
                               "shared", "rshared", "slave", "rslave"})


def tmpfs_options(options: str) -> tuple[int, str]:
    """Docker's ``--tmpfs`` options: flags (default noexec,nosuid,nodev) and tmpfs data;
    an option Docker does not know is refused with its message."""
    words = [w for w in (options or "").split(",") if w]
    flags = 2 | 4 | 8
    for word in words:
        if word in ("exec", "suid", "dev"):
            flags &= ~_TMPFS_FLAGS["no" + word]
    data = []
    for word in words:
        if word in _TMPFS_FLAGS:
            flags |= _TMPFS_FLAGS[word]
        elif word.partition("=")[0] in _TMPFS_DATA or word in _MOUNT_FLAG_WORDS:
            data.append(word)
        else:
            shown = " ".join(f'"{part}"' for part in word.split("=", 1))
            raise FreightError(f"invalid tmpfs option [{shown}]")
    return flags, ",".join(data)


def privileged_devices(host: dict[str, Any]) -> list[DeviceNode]:
    """For ``--privileged``, every device node of the host's /dev, as Docker gives."""
    if not host.get("Privileged"):
        return []
    nodes = []
    for name in sorted(os.listdir("/dev")):
        path = f"/dev/{name}"
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if path in _DEFAULT_DEVICE_PATHS or not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            continue
        nodes.append(DeviceNode(path, "c" if stat.S_ISCHR(st.st_mode) else "b", os.major(st.st_rdev),
                                os.minor(st.st_rdev), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid))
    return nodes


_DEFAULT_DEVICE_PATHS = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                         "/dev/tty", "/dev/console", "/dev/ptmx"}


def device_edits(host: dict[str, Any]) -> ContainerEdits | None:
    """``--device`` and ``--gpus`` (CDI) as ``cdi.ContainerEdits``; None when there are none."""
    if not host.get("Devices") and not host.get("DeviceRequests"):
        return None
    from freight.runtime import cdi, devices, gpus  # only containers given devices need them

    edits = cdi.ContainerEdits()
    for d in host.get("Devices") or []:
        request = devices.DeviceRequest(d["PathOnHost"], d.get("PathInContainer") or d["PathOnHost"],
                                        d.get("CgroupPermissions") or "rwm")
        nodes, rules = devices.host_devices(request)
        edits.devices += nodes
        edits.rules += rules
    names: list[str] = []
    registry = None
    for r in host.get("DeviceRequests") or []:
        if r.get("Driver") == "cdi":
            names += r.get("DeviceIDs") or []
            continue
        registry = registry or cdi.CdiRegistry()
        wanted = gpus.GpuRequest(count=r.get("Count") or 0, device_ids=r.get("DeviceIDs"),
                                 capabilities=r.get("Capabilities") or [["gpu"]],
                                 driver=r.get("Driver") or "", options=r.get("Options") or {})
        names += gpus.gpu_device_names(wanted, registry)
    if names:
        edits.extend((registry or cdi.CdiRegistry()).edits(names))
    return edits
