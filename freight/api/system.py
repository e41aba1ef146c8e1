"""System endpoints: ``_ping``, ``version``, ``info``, ``system/df``, ``auth``, and the
BuildKit session endpoints this service does not offer."""

from __future__ import annotations

import os
import platform

from freight import __version__
from freight.api import summaries
from freight.api.http import Call, HttpError
from freight.registry.auth import Credentials, host_of
from freight.registry.client import Registry
from freight.registry.connections import RegistryError
from freight.runtime.containers import list_containers
from freight.runtime.prune import container_size, volume_size
from freight.runtime.stats import host_memory
from freight.runtime.times import timestamp
from freight.runtime.volumes import list_volumes, used_volumes
from freight.settings import rootless, storage_driver
from freight.system import disk_usage

API_VERSION = "1.51"
MIN_API_VERSION = "1.40"
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}


def ping(call: Call) -> None:
    """``GET``/``HEAD /_ping``: "OK", and the headers clients negotiate with (``Builder-Version: 1``:
    the classic builder's ``POST /build``, not BuildKit's session)."""
    headers = {"Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate",
               "Pragma": "no-cache"}
    call.respond(200, b"OK", "text/plain; charset=utf-8", headers)


def _kernel() -> str:
    return platform.release()


def version_info() -> dict[str, object]:
    arch = _GO_ARCH.get(platform.machine(), platform.machine())
    details = {"ApiVersion": API_VERSION, "Arch": arch, "BuildTime": "", "Experimental": "false",
               "GitCommit": "", "GoVersion": "", "KernelVersion": _kernel(), "MinAPIVersion": MIN_API_VERSION,
               "Os": "linux"}
    return {"Platform": {"Name": "freight"},
            "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
            "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "", "GoVersion": "", "Os": "linux", "Arch": arch, "KernelVersion": _kernel(),
            "BuildTime": ""}


def version(call: Call) -> None:
    call.json(version_info())


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.partition("=")[2].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def info(call: Call) -> None:
    st = call.store
    found = list_containers(st, all=True)
    running = sum(1 for c in found if c.running)
    paused = sum(1 for c in found if c.state.get("Paused"))
    call.json({
        "ID": "", "Containers": len(found), "ContainersRunning": running - paused,
        "ContainersPaused": paused, "ContainersStopped": len(found) - running,
        "Images": len(st.images.all()), "Driver": storage_driver(), "DriverStatus": [["Backing Filesystem", "extfs"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": None,
                    "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True,
        "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True, "Debug": False,
        "NFd": len(os.listdir("/proc/self/fd")),
        "OomKillDisable": False, "NGoroutines": 0, "SystemTime": timestamp(), "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs", "CgroupVersion": "2", "NEventsListener": 0, "KernelVersion": _kernel(),
        "OperatingSystem": _os_name(), "OSVersion": "", "OSType": "linux", "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": []},
        "NCPU": os.cpu_count() or 1, "MemTotal": host_memory(), "GenericResources": None,
        "DockerRootDir": st.root_path, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": platform.node(),
        "Labels": [], "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": {"freight": {"path": "freight"}}, "DefaultRuntime": "freight",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                  "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "",
        "SecurityOptions": ["name=seccomp,profile=builtin", *(["name=rootless"] if rootless() else []),
                            "name=cgroupns"],
        "Warnings": None,
    })


def disk_usage_report(call: Call) -> None:
    """``GET /system/df``: images, containers and volumes with their sizes (``type`` narrows it)."""
    st = call.store
    kinds = set(call.query.get("type", [])) or {"image", "container", "volume", "build-cache"}
    found = list_containers(st, all=True)
    out: dict[str, object] = {}
    if "image" in kinds:
        usage = {u.kind: u for u in disk_usage(st)}
        out["LayersSize"] = usage["Images"].size
        users: dict[str, int] = {}
        for c in found:
            users[c.image_id] = users.get(c.image_id, 0) + 1
        out["Images"] = [{**summaries.image(i), "Containers": users.get(i.id, 0)} for i in st.images.all()]
    if "container" in kinds:
        out["Containers"] = [{**summaries.container(c), "SizeRw": container_size(st, c), "SizeRootFs": 0}
                             for c in found]
    if "volume" in kinds:
        used = used_volumes(st)
        out["Volumes"] = [{**v, "UsageData": {"Size": volume_size(st, v["Name"]),
                                              "RefCount": 1 if v["Name"] in used else 0}}
                          for v in list_volumes(st)]
    if "build-cache" in kinds:
        out["BuildCache"] = []
    call.json(out)


def auth(call: Call) -> None:
    """``POST /auth``: the credentials checked against the registry, as ``freight login`` does
    (the client keeps them)."""
    body = call.body_json() or {}
    if not isinstance(body, dict):
        raise HttpError(400, "invalid auth configuration")
    creds = Credentials(str(body.get("username") or ""), str(body.get("password") or ""))
    try:
        with Registry(host_of(str(body.get("serveraddress") or "docker.io")), creds) as registry:
            registry.check_login()
    except RegistryError as err:
        raise HttpError(401, str(err)) from None
    call.json({"Status": "Login Succeeded", "IdentityToken": ""})


def buildkit_session(call: Call) -> None:
    raise HttpError(501, "BuildKit sessions are not supported by freight's service: "
                         "build with DOCKER_BUILDKIT=0 (the classic builder's POST /build)")


ROUTES = [
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("GET", "/system/df", disk_usage_report),
    ("POST", "/auth", auth),
    ("POST", "/session", buildkit_session),
    ("POST", "/grpc", buildkit_session),
]
