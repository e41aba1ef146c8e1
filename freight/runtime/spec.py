"""What the kernel-facing part of the runtime needs to start one container process.

A ``ContainerSpec`` is derived from a container's stored Docker-shaped config
(``freight.runtime.hostconfig``) each time it starts; the launcher forks with it
in memory, so nothing here is serialised on the ``freight run`` path. These
are plain classes rather than dataclasses: creating dataclasses costs
milliseconds of start-up that ``freight run`` cannot spare.
"""

from __future__ import annotations

from freight.runtime.caps import DEFAULT as DEFAULT_CAPS

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

NETWORK_PRIVATE = "private"   # a new netns with only loopback (Docker's "none", and our default)
NETWORK_HOST = "host"


class _Plain:
    """Keyword construction, equality and repr from ``__slots__`` and class defaults."""

    __slots__: tuple[str, ...] = ()
    _defaults: dict[str, Any] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional arguments")
        values = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names or key in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated argument {key!r}")
            values[key] = value
        for name in names:
            if name in values:
                setattr(self, name, values[name])
            elif name in self._defaults:
                default = self._defaults[name]
                setattr(self, name, default() if callable(default) else default)
            else:
                raise TypeError(f"{type(self).__name__} missing required argument {name!r}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Mount(_Plain):
    """A mount inside the container, in the order Docker applies them (by target depth).

    ``type`` is "bind" (volumes too: their _data dir) or "tmpfs"; ``data`` the tmpfs
    options ("size=64m,mode=1777"); ``flags`` extra MS_* flags (tmpfs: nosuid, nodev,
    noexec); ``copy_up`` marks an empty volume that first gets the image's content.
    """

    __slots__ = ("type", "target", "source", "readonly", "data", "flags", "copy_up")
    _defaults = {"source": "", "readonly": False, "data": "", "flags": 0, "copy_up": False}
    type: str
    target: str
    source: str
    readonly: bool
    data: str
    flags: int
    copy_up: bool


class DeviceNode(_Plain):
    """A host device node to create inside the container's /dev (``kind`` "c" or "b")."""

    __slots__ = ("path", "kind", "major", "minor", "mode", "uid", "gid")
    _defaults = {"mode": 0o666, "uid": 0, "gid": 0}
    path: str
    kind: str
    major: int
    minor: int
    mode: int
    uid: int
    gid: int


class ContainerSpec(_Plain):
    """One container process: its filesystem, namespaces, identity and command.

    ``lowers`` are overlay lower dirs, top-most first, relative to ``lower_root`` when
    that is set; ``container_dir`` holds upper, work, merged and the hosts files;
    ``ulimits`` are (resource, soft, hard); ``cgroup`` is a
    ``freight.runtime.cgroups.Cgroup`` or None; ``masked_paths`` applies Docker's
    masked and read-only /proc paths; ``seccomp`` is the runtime-spec's
    ``linux.seccomp`` (``freight.runtime.seccomp``), None for unconfined.
    """

    __slots__ = ("id", "container_dir", "lowers", "lower_root", "args", "env", "cwd", "user",
                 "group_add", "hostname", "tty", "stdin", "network", "pid_host", "ipc_host",
                 "uts_host", "readonly_rootfs", "privileged", "caps", "no_new_privileges",
                 "ulimits", "mounts", "devices", "init", "cgroup", "masked_paths", "seccomp")
    _defaults = {
        "lower_root": None, "args": list, "env": list, "cwd": "/", "user": "", "group_add": list,
        "hostname": "", "tty": False, "stdin": False, "network": NETWORK_PRIVATE,
        "pid_host": False, "ipc_host": False, "uts_host": False, "readonly_rootfs": False,
        "privileged": False, "caps": lambda: ["CAP_" + c for c in DEFAULT_CAPS],
        "no_new_privileges": False, "ulimits": list, "mounts": list, "devices": list,
        "init": False, "cgroup": None, "masked_paths": True, "seccomp": None,
    }
    id: str
    container_dir: str
    lowers: list[str]
    lower_root: str | None
    args: list[str]
    env: list[str]
    cwd: str
    user: str
    group_add: list[str]
    hostname: str
    tty: bool
    stdin: bool
    network: str
    pid_host: bool
    ipc_host: bool
    uts_host: bool
    readonly_rootfs: bool
    privileged: bool
    caps: list[str]
    no_new_privileges: bool
    ulimits: list[tuple[int, int, int]]
    mounts: list[Mount]
    devices: list[DeviceNode]
    init: bool
    cgroup: Any
    masked_paths: bool
    seccomp: dict[str, Any] | None

    @property
    def merged(self) -> str:
        return f"{self.container_dir}/merged"
