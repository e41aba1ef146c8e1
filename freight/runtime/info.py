"""What ``freight version`` and ``freight info`` report (the Docker API's ``/version`` and
``/info`` shapes), with freight's own facts: the store, the cgroup layout, the runtimes and
security features this host offers."""

from __future__ import annotations

import os
import platform
import shutil

from freight import __version__
from freight.errors import FreightError
from freight.runtime import records  # noqa: F401 - registers the containers table that info counts
from freight.runtime.cgroups import detect_layout
from freight.runtime.hostconfig import INIT_BINARY
from freight.settings import storage_driver

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.store import Store

API_VERSION = "1.41"  # the Docker Engine API version whose shapes freight's output follows
_OCI_RUNTIMES = ("crun", "runc", "runsc")
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def _arch() -> str:
    return _ARCH.get(platform.machine(), platform.machine())


def version_info() -> dict[str, Any]:
    """The engine's part of ``docker version``: freight is both client and engine."""
    details = {"ApiVersion": API_VERSION, "Arch": _arch(), "Os": "linux", "KernelVersion": platform.release(),
               "PythonVersion": platform.python_version()}
    return {"Platform": {"Name": "freight"},
            "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
            "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": "1.12", "GitCommit": "",
            "GoVersion": "", "Os": "linux", "Arch": _arch(), "KernelVersion": platform.release(),
            "BuildTime": ""}


def cgroup_version() -> str:
    try:
        return "2" if detect_layout().mode == "v2" else "1"
    except FreightError:
        return ""


def runtimes() -> dict[str, dict[str, str]]:
    """The built-in runtime and the OCI runtimes on PATH, by name."""
    found = {"freight": {"path": "built-in"}}
    for name in _OCI_RUNTIMES:
        path = shutil.which(name)
        if path:
            found[name] = {"path": path}
    return found


def _memory_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _operating_system() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")
    except OSError:
        return "Linux"


def _seccomp_available() -> bool:
    try:
        with open("/proc/self/status") as f:
            return any(line.startswith("Seccomp:") for line in f)
    except OSError:
        return False


def engine_info(store: Store) -> dict[str, Any]:
    """``docker info``'s fields, counted from the store."""
    states = [row[0] for row in store.db.execute("SELECT json_extract(state, '$.Status') FROM containers")]
    running = sum(1 for s in states if s in ("running", "restarting"))
    paused = states.count("paused")
    cgroup = cgroup_version()
    return {
        "ID": "", "Containers": len(states), "ContainersRunning": running, "ContainersPaused": paused,
        "ContainersStopped": len(states) - running - paused,
        "Images": store.db.execute("SELECT COUNT(*) FROM images").fetchone()[0],
        "Driver": storage_driver(), "DriverStatus": [["Backing Filesystem", _filesystem(store.root_path)]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": None,
                    "Log": ["json-file", "local", "none"]},
        "MemoryLimit": True, "SwapLimit": os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
        or cgroup == "2", "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True,
        "PidsLimit": True, "IPv4Forwarding": _read("/proc/sys/net/ipv4/ip_forward") == "1",
        "Debug": False, "NFd": len(os.listdir("/proc/self/fd")), "OomKillDisable": cgroup == "1",
        "NGoroutines": 0, "SystemTime": "", "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup, "NEventsListener": 0, "KernelVersion": platform.release(),
        "OperatingSystem": _operating_system(), "OSVersion": "", "OSType": "linux",
        "Architecture": platform.machine(), "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": None, "NCPU": os.cpu_count() or 0, "MemTotal": _memory_total(),
        "GenericResources": None, "DockerRootDir": store.root_path, "HttpProxy": os.environ.get("HTTP_PROXY", ""),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", ""), "NoProxy": os.environ.get("NO_PROXY", ""),
        "Name": platform.node(), "Labels": [], "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": runtimes(), "DefaultRuntime": "freight", "Swarm": {"LocalNodeState": "inactive"},
        "LiveRestoreEnabled": True, "Isolation": "",
        "InitBinary": INIT_BINARY if os.path.exists(INIT_BINARY) else "",
        "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"] if _seccomp_available() else [],
        "CDISpecDirs": ["/etc/cdi", "/var/run/cdi"], "Warnings": None,
    }


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _filesystem(path: str) -> str:
    """The type of the filesystem ``path`` is on (from /proc/self/mounts)."""
    best, kind = "", ""
    real = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            point = fields[1].replace("\\040", " ")
            if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, kind = point, fields[2]
    return kind
