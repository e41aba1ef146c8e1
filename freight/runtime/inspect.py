"""``docker inspect`` JSON for containers and volumes.

Every field Docker's ``container inspect`` returns is present, with Docker's zero
value when the container's record leaves it unset: templates such as
``{{.HostConfig.Memory}}`` or ``{{.NetworkSettings.IPAddress}}`` work on any
container, as they do with Docker.
"""

from __future__ import annotations

from freight.errors import NotFound
from freight.runtime import containers, exec_records
from freight.runtime.bundle import CONFIG, bundle_dir
from freight.runtime.cgroups import detect_layout
from freight.runtime.records import HIDDEN_STATE, Container
from freight.runtime.restart import policy_of
from freight.runtime.volumes import get_volume

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.store import Store

_PRIVATE_MOUNT = ("NoCopy", "Anonymous", "TmpfsOptions")  # freight's own keys (``mounts``)
DEFAULT_SHM_SIZE = 64 * 1024 * 1024

MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def host_config_defaults() -> dict[str, Any]:
    """Docker's HostConfig, in its order, with the values a plain ``docker run`` gets."""
    return {
        "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": "default", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None,
        "CapAdd": None, "CapDrop": None, "CgroupnsMode": "private", "Dns": [], "DnsOptions": [],
        "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None, "IpcMode": "private", "Cgroup": "",
        "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False, "PublishAllPorts": False,
        "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "",
        "ShmSize": DEFAULT_SHM_SIZE, "Runtime": "runc", "ConsoleSize": [0, 0],
        "Isolation": "", "CpuShares": 0, "Memory": 0,
        "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": [],
        "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0,
        "MemorySwappiness": None, "OomKillDisable": False, "PidsLimit": None, "Ulimits": [],
        "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
        "MaskedPaths": list(MASKED_PATHS), "ReadonlyPaths": list(READONLY_PATHS),
    }


_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
    "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
    "OnBuild": None, "Labels": {},
}


def endpoint_zero() -> dict[str, Any]:
    """One ``NetworkSettings.Networks`` entry with nothing set (Docker's zero values)."""
    return {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "", "EndpointID": "",
            "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": None}


def network_settings_zero() -> dict[str, Any]:
    """Docker's ``NetworkSettings`` with every field at its zero value (the network code fills it)."""
    return {"Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": {}, "HairpinMode": False,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
            "MacAddress": "", "Networks": {}}


def _host_config(host: dict[str, Any]) -> dict[str, Any]:
    """The stored HostConfig over Docker's defaults; None where Docker shows a zero value."""
    out = host_config_defaults()
    for key, value in host.items():
        if value is not None or key not in out:
            out[key] = value
    out["IpcMode"] = out["IpcMode"] or "private"
    if "CgroupnsMode" not in host:  # Docker's default: a namespace of its own on cgroup v2 only
        out["CgroupnsMode"] = "private" if detect_layout().mode == "v2" else "host"
    if out["Privileged"]:
        out["MaskedPaths"], out["ReadonlyPaths"] = None, None
    _drop_empty(out, _HOST_OMITTED)
    return out


# Docker leaves these out when unset ("omitempty"); freight's records may hold them empty.
_HOST_OMITTED = ("Init", "Mounts", "Tmpfs", "StorageOpt", "Sysctls", "Annotations")
_CONFIG_OMITTED = ("ExposedPorts", "StopSignal", "StopTimeout", "Healthcheck", "MacAddress", "Shell",
                   "ArgsEscaped", "NetworkDisabled")


def _drop_empty(out: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in out and out[key] in (None, False, "", {}, []):
            del out[key]


def _network_settings(record: dict[str, Any], mode: str, state: dict[str, Any]) -> dict[str, Any]:
    """NetworkSettings in Docker's shape: the default bridge's address at the top level, every
    network's endpoint under Networks (``netsandbox`` records them at start), zero values for
    the rest."""
    out = network_settings_zero()
    stored = record.get("NetworkSettings") or {}
    out.update({k: v for k, v in stored.items() if v is not None})
    out["Ports"] = stored.get("Ports") or {}
    if state.get("Running") and out["SandboxID"]:
        out["SandboxKey"] = f"/proc/{state.get('Pid')}/ns/net"
    if not out["Networks"] and mode in ("default", "bridge", "host", "none"):
        out["Networks"] = {"bridge" if mode == "default" else mode: endpoint_zero()}
    return out


def container_inspect(store: Store, c: Container) -> dict[str, Any]:
    """The container as ``docker container inspect`` shows it."""
    record = c.record
    state = {k: v for k, v in c.state.items() if k not in HIDDEN_STATE}
    directory = c.directory(store)
    lowers = ""
    try:
        image = store.resolve_image(c.image_id)
        lowers = ":".join(str(p) for p in reversed(store.layer_dirs(image)))
    except NotFound:
        pass
    out: dict[str, Any] = {}
    for key in ("Id", "Created", "Path", "Args"):
        out[key] = record[key]
    out["State"] = state
    for key, default in (("Image", ""), ("ResolvConfPath", ""), ("HostnamePath", ""), ("HostsPath", ""),
                         ("LogPath", ""), ("Name", ""), ("RestartCount", 0), ("Driver", "overlay"),
                         ("Platform", "linux"), ("MountLabel", ""), ("ProcessLabel", ""),
                         ("AppArmorProfile", "")):
        out[key] = record.get(key, default)
    out["ExecIDs"] = exec_records.ids_of(store, c.id) or None
    out["HostConfig"] = _host_config(record.get("HostConfig") or {})
    out["HostConfig"]["RestartPolicy"] = policy_of(record.get("HostConfig") or {})
    out["GraphDriver"] = {"Data": {"LowerDir": lowers, "MergedDir": f"{directory}/merged",
                                   "UpperDir": f"{directory}/upper", "WorkDir": f"{directory}/work"},
                          "Name": "overlay"}
    out["OCIConfigPath"] = f"{bundle_dir(directory)}/{CONFIG}"  # Podman's name: the bundle's config.json
    out["Mounts"] = [{k: v for k, v in m.items() if k not in _PRIVATE_MOUNT} for m in record["Mounts"]]
    out["Config"] = {**_CONFIG_DEFAULTS, **record["Config"]}
    _drop_empty(out["Config"], _CONFIG_OMITTED)
    out["NetworkSettings"] = _network_settings(record, out["HostConfig"]["NetworkMode"], state)
    return out


def find_and_inspect(store: Store, name: str, kind: str | None = None) -> dict[str, Any] | None:
    """A container (or, with ``kind`` None or "volume", a volume) by name or ID; None if absent."""
    if kind in (None, "container"):
        try:
            return container_inspect(store, containers.get(store, name))
        except NotFound:
            pass
    if kind in (None, "volume"):
        try:
            return get_volume(store, name)
        except NotFound:
            return None
    return None
