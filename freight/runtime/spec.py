"""What the kernel-facing part of the runtime needs to start one container process.

A ``ContainerSpec`` is derived from a container's stored Docker-shaped config
(``freight.runtime.config``) each time it starts; the launcher forks with it
in memory, so nothing here is serialised on the ``freight run`` path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NETWORK_PRIVATE = "private"   # a new netns with only loopback (Docker's "none", and our default)
NETWORK_HOST = "host"


@dataclass
class Mount:
    """A mount inside the container, in the order Docker applies them (by target depth)."""

    type: str                 # "bind" (volumes too: their _data dir) or "tmpfs"
    target: str               # absolute path inside the container
    source: str = ""          # host path for binds
    readonly: bool = False
    data: str = ""            # tmpfs data options ("size=64m,mode=1777")
    flags: int = 0            # extra MS_* flags (tmpfs: nosuid, nodev, noexec)
    copy_up: bool = False     # an empty volume: copy the image's content at target in first


@dataclass
class DeviceNode:
    """A host device node to create inside the container's /dev."""

    path: str                 # path inside the container
    kind: str                 # "c" or "b"
    major: int
    minor: int
    mode: int = 0o666
    uid: int = 0
    gid: int = 0


@dataclass
class ContainerSpec:
    id: str
    container_dir: str                       # containers/<id>: upper, work, merged, hosts...
    lowers: list[str]                        # overlay lower dirs, top-most first
    lower_root: str | None = None            # chdir here first so ``lowers`` can be relative
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    user: str = ""
    group_add: list[str] = field(default_factory=list)
    hostname: str = ""
    tty: bool = False
    stdin: bool = False
    network: str = NETWORK_PRIVATE
    pid_host: bool = False
    ipc_host: bool = False
    uts_host: bool = False
    readonly_rootfs: bool = False
    privileged: bool = False
    caps: list[str] = field(default_factory=list)
    no_new_privileges: bool = False
    ulimits: list[tuple[int, int, int]] = field(default_factory=list)  # (resource, soft, hard)
    mounts: list[Mount] = field(default_factory=list)
    devices: list[DeviceNode] = field(default_factory=list)
    init: bool = False
    cgroup: Any = None                       # a freight.runtime.cgroups.Cgroup, or None
    masked_paths: bool = True                # Docker's masked and read-only /proc paths

    @property
    def merged(self) -> str:
        return f"{self.container_dir}/merged"
