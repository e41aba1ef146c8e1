"""What the kernel-facing part of the runtime needs to start one container process.

A ``ContainerSpec`` is derived from a container's stored Docker-shaped config
(``freight.runtime.hostconfig``) each time it starts; the launcher forks with it
in memory, so nothing here is serialised on the ``freight run`` path.
"""

from __future__ import annotations

from freight.record import Record, field
from freight.runtime.caps import DEFAULT as DEFAULT_CAPS

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.runtime.cgroups import Cgroup
    from freight.store.snapshots import SnapshotMount

NETWORK_PRIVATE = "private"   # a new netns with only loopback (Docker's "none", and our default)
NETWORK_HOST = "host"
NETWORK_JOINED = "joined"     # the namespace the process is forked in (made and wired by its supervisor)


class Mount(Record):
    """A mount inside the container, in the order Docker applies them (by target depth).

    ``type`` is "bind" (volumes too: their _data dir) or "tmpfs"; ``data`` the tmpfs
    options ("size=64m,mode=1777"); ``flags`` extra MS_* flags (tmpfs: nosuid, nodev,
    noexec); ``copy_up`` marks an empty volume that first gets the image's content.
    """

    type: str
    target: str
    source: str = ""
    readonly: bool = False
    data: str = ""
    flags: int = 0
    copy_up: bool = False


class DeviceNode(Record):
    """A host device node to create inside the container's /dev (``kind`` "c" or "b")."""

    path: str
    kind: str
    major: int
    minor: int
    mode: int = 0o666
    uid: int = 0
    gid: int = 0


def _default_caps() -> list[str]:
    return ["CAP_" + c for c in DEFAULT_CAPS]


class ContainerSpec(Record, frozen=False):
    """One container process: its filesystem, namespaces, identity and command.

    ``rootfs`` is what the snapshot store handed out to mount at ``merged``
    (``Snapshots.prepare``); ``container_dir`` holds upper, work, merged and the hosts files;
    ``ulimits`` are (resource, soft, hard); ``cgroup`` is a
    ``freight.runtime.cgroups.Cgroup`` or None; ``masked_paths`` applies Docker's
    masked and read-only /proc paths; ``console_size`` the caller's terminal's;
    ``seccomp`` is the runtime-spec's
    ``linux.seccomp`` (``freight.runtime.seccomp``), None for unconfined.
    """

    id: str
    container_dir: str
    rootfs: list[SnapshotMount]
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    user: str = ""
    group_add: list[str] = field(default_factory=list)
    hostname: str = ""
    tty: bool = False
    stdin: bool = False
    network: str = NETWORK_PRIVATE
    netns_path: str = ""  # with NETWORK_JOINED: the namespace, as its supervisor holds it open
    pid_host: bool = False
    ipc_host: bool = False
    uts_host: bool = False
    readonly_rootfs: bool = False
    privileged: bool = False
    caps: list[str] = field(default_factory=_default_caps)
    no_new_privileges: bool = False
    ulimits: list[tuple[int, int, int]] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    devices: list[DeviceNode] = field(default_factory=list)
    cgroup: Cgroup | None = None
    masked_paths: bool = True
    seccomp: dict[str, Any] | None = None
    shm_size: int = 0  # bytes of /dev/shm (--shm-size; 0: Docker's 64 MiB)
    console_size: tuple[int, int] | None = None  # (rows, columns) of the terminal, with ``tty``

    @property
    def merged(self) -> str:
        return f"{self.container_dir}/merged"


def shm_size_option(size: int) -> str:
    """The ``size=`` of /dev/shm's tmpfs: ``--shm-size`` bytes, or Docker's 64 MiB."""
    return f"size={size}" if size else "size=65536k"
