"""A container's control group: made with its limits, then accounting, OOM detection, kill and removal.

Works on the three layouts a Linux host can have, detected once per process from
/proc/self/mountinfo:

* ``v2``     -- /sys/fs/cgroup is cgroup2: one directory per container.
* ``v1``     -- one cgroup v1 hierarchy per controller (memory, cpu, pids, ...).
* ``hybrid`` -- v1 controllers plus a cgroup2 mount (usually /sys/fs/cgroup/unified)
  that holds few or no controllers; freight uses the v1 controllers, as Docker does.

A container's cgroup is ``freight/<container id>`` below the root of every hierarchy
it uses (Docker uses ``docker/<id>``).  On v1 that is memory, cpu, cpuacct, pids,
freezer and devices (stats and a race-free kill need them), plus cpuset only when the
container pins CPUs or memory nodes.

``create(container_id, resources)`` makes a container's cgroup and applies its
limits (``limits.Resources``) before any process joins; ``load(container_id)``
reopens it from another process (``stats``, ``top``, ``exec``, removal). The
supervisor moves the container's first process in (``Cgroup.add``) while the
process builds its filesystem, before it unshares its cgroup namespace, so that
namespace is rooted at the container's cgroup (``launch``). ``Cgroup.oom_killed``
tells a container killed by the OOM killer (Docker's ``State.OOMKilled``),
``Cgroup.stats`` feeds ``freight stats``, and ``Cgroup.destroy`` kills what is
left (frozen first, so that nothing forks away) and removes the directories.

Device rules on cgroup v2 need an eBPF program attached to the cgroup (Docker and runc
load one); freight does not load BPF, so on v2 ``Resources.devices`` is not enforced
(``Cgroup.devices_enforced`` is False) and the container relies on its mount namespace
and capabilities for device isolation.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import lru_cache

from freight.errors import FreightError
from freight.record import Record
from freight.runtime.limits import Resources
from freight.settings import host_uid, rootless

CGROUP_ROOT = "/sys/fs/cgroup"
PARENT = "freight"
V1_UNLIMITED = 0x7FFFFFFFFFFFF000  # memory.limit_in_bytes with no limit, page aligned

# v1 controllers every container gets: memory/pids/cpuacct for stats and OOM,
# cpu for limits, freezer for a race-free kill, devices for isolation.
V1_BASE_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer", "devices")
V2_CONTROLLERS = ("cpu", "memory", "pids")
V2_LIMIT_CONTROLLERS = ("memory", "pids")  # what a user's v2 subtree needs to count as delegated


# ---------------------------------------------------------------- layout


class Layout(Record):
    """Where the cgroup hierarchies are: v1 mounts by controller, or the v2 root."""

    mode: str  # "v1", "v2" or "hybrid"
    v1: dict[str, str]  # controller -> mount point
    v2_root: str | None = None


def _mountinfo_entries() -> list[tuple[str, str, str]]:
    """(mount point, fs type, super options) of every mount."""
    entries = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            mount_point = fields[4].replace("\\040", " ")
            entries.append((mount_point, rfields[0], rfields[2] if len(rfields) > 2 else ""))
    return entries


def _detect(root: str) -> Layout:
    v1: dict[str, str] = {}
    v2_mounts: list[str] = []
    for mount_point, fstype, options in _mountinfo_entries():
        if not (mount_point == root or mount_point.startswith(root + "/")):
            continue
        if fstype == "cgroup2":
            v2_mounts.append(mount_point)
        elif fstype == "cgroup":
            for option in options.split(","):
                if option in _KNOWN_V1 and option not in v1:
                    v1[option] = mount_point
    if root in v2_mounts:
        return Layout("v2", {}, root)
    if not v1:
        raise FreightError(f"no cgroup hierarchy is mounted under {root}")
    return Layout("hybrid" if v2_mounts else "v1", v1, v2_mounts[0] if v2_mounts else None)


_KNOWN_V1 = frozenset(
    ("cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio", "hugetlb",
     "net_cls", "net_prio", "perf_event", "rdma", "misc")
)


@lru_cache(maxsize=4)
def detect_layout(root: str = CGROUP_ROOT) -> Layout:
    """Detect the host's cgroup layout (mounts do not change under us: cached)."""
    return _detect(root)


# ---------------------------------------------------------------- file helpers


def _write(path: str, value: str) -> None:
    """One write(2) of ``value``: cgroup files take one value per write."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as exc:
        raise FreightError(f"cgroup: cannot open {path}: {exc.strerror}") from None
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise FreightError(f"cgroup: cannot write {value!r} to {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _read_int(path: str) -> int | None:
    text = _read(path)
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _keyed(path: str) -> dict[str, int]:
    """Parse a flat keyed file (``key value`` per line) such as memory.stat."""
    result: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            result[key] = int(value)
    return result


def _mkdir(path: str) -> bool:
    """Create a cgroup directory; False when it existed already."""
    try:
        os.mkdir(path, 0o755)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        raise FreightError(f"cgroup: cannot create {path}: {exc.strerror}") from None


def _rmdir_when_empty(path: str, deadline: float) -> None:
    """rmdir a cgroup and any it contains (children first), retrying while killed
    tasks finish exiting (EBUSY)."""
    for sub in _subdirs(path):
        _rmdir_when_empty(sub, deadline)
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise FreightError(f"cgroup: cannot remove {path}: {exc.strerror}") from None
        time.sleep(0.005)


def _subdirs(path: str) -> list[str]:
    """Child cgroups (a container may create its own below its cgroup)."""
    try:
        with os.scandir(path) as entries:
            return [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _signal_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _pids_of(directory: str) -> list[int]:
    """Processes in ``directory`` and in the cgroups below it."""
    text = _read(os.path.join(directory, "cgroup.procs")) or ""
    pids = [int(line) for line in text.split()]
    for sub in _subdirs(directory):
        pids += _pids_of(sub)
    return pids


# ---------------------------------------------------------------- cgroups


class CgroupStats(Record):
    """What ``freight stats`` shows.  None where the host has no such accounting.

    ``memory_usage`` excludes inactive file cache, as ``docker stats`` does;
    ``memory_limit`` is None when unlimited (Docker then shows the host's memory).
    """

    memory_usage: int | None
    memory_limit: int | None
    cpu_usage_ns: int | None
    pids_current: int | None
    pids_limit: int | None


class Cgroup(ABC):
    """A container's cgroup in every hierarchy it uses (see module docstring)."""

    container_id: str
    devices_enforced: bool

    @abstractmethod
    def directories(self) -> list[str]:
        """Every directory this cgroup owns (one per hierarchy on v1)."""

    @abstractmethod
    def apply(self, resources: Resources) -> None:
        """Write the limits of ``resources`` (at creation, before any process joins)."""

    @abstractmethod
    def add(self, pid: int) -> None:
        """Move ``pid`` into the cgroup; its later children are born there."""

    @abstractmethod
    def pids(self) -> list[int]:
        """The processes in the cgroup."""

    @abstractmethod
    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer killed a process of this cgroup."""

    @abstractmethod
    def stats(self) -> CgroupStats:
        """Current usage, for ``freight stats``."""

    @abstractmethod
    def freeze(self) -> None:
        """Stop every process (``freight pause``); returns once they are frozen."""

    @abstractmethod
    def thaw(self) -> None:
        """Resume the processes stopped by ``freeze``."""

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to every process, frozen first so that none forks away."""
        if not self.pids():
            return  # the usual case after the container exited: nothing to freeze
        frozen = _attempt(self.freeze)
        _signal_pids(self.pids(), sig)
        if frozen:
            _attempt(self.thaw)  # a frozen task dies only once thawed
            return
        if sig == signal.SIGKILL:  # no freezer: catch processes forked meanwhile
            for _ in range(100):
                pids = self.pids()
                if not pids:
                    return
                _signal_pids(pids, sig)
                time.sleep(0.002)

    def destroy(self, timeout: float = 5.0) -> None:
        """Kill every process left and remove the directories.  Idempotent."""
        if not any(os.path.isdir(d) for d in self.directories()):
            return
        self.kill_all()
        deadline = time.monotonic() + timeout
        for directory in self.directories():
            _rmdir_when_empty(directory, deadline)


def _attempt(action: Callable[[], None]) -> bool:
    try:
        action()
        return True
    except FreightError:
        return False


class CgroupV1(Cgroup):
    """One directory per v1 controller hierarchy."""

    def __init__(self, container_id: str, dirs: dict[str, str]) -> None:
        self.container_id = container_id
        self.dirs = dirs  # controller -> directory (co-mounted controllers share one)
        self.devices_enforced = "devices" in dirs

    def directories(self) -> list[str]:
        return list(dict.fromkeys(self.dirs.values()))

    def _file(self, controller: str, name: str) -> str | None:
        directory = self.dirs.get(controller)
        return os.path.join(directory, name) if directory else None

    def add(self, pid: int) -> None:
        for directory in self.directories():
            _write(os.path.join(directory, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        directory = self.dirs.get("pids") or self.dirs.get("memory") or self.directories()[0]
        return _pids_of(directory)

    def oom_killed(self) -> bool:
        path = self._file("memory", "memory.oom_control")
        return bool(path and _keyed(path).get("oom_kill", 0) > 0)

    def stats(self) -> CgroupStats:
        usage = limit = None
        memory_dir = self.dirs.get("memory")
        if memory_dir:
            usage = _read_int(os.path.join(memory_dir, "memory.usage_in_bytes"))
            inactive = _keyed(os.path.join(memory_dir, "memory.stat")).get("total_inactive_file", 0)
            if usage is not None:
                usage = max(usage - inactive, 0)
            limit = _read_int(os.path.join(memory_dir, "memory.limit_in_bytes"))
            if limit is not None and limit >= V1_UNLIMITED:
                limit = None
        cpu = self._file("cpuacct", "cpuacct.usage")
        pids_current = self._file("pids", "pids.current")
        pids_max = self._file("pids", "pids.max")
        return CgroupStats(
            memory_usage=usage,
            memory_limit=limit,
            cpu_usage_ns=_read_int(cpu) if cpu else None,
            pids_current=_read_int(pids_current) if pids_current else None,
            pids_limit=_read_int(pids_max) if pids_max else None,
        )

    def freeze(self) -> None:
        self._set_freezer("FROZEN")

    def thaw(self) -> None:
        self._set_freezer("THAWED")

    def _set_freezer(self, state: str) -> None:
        path = self._file("freezer", "freezer.state")
        if path is None:
            raise FreightError("cgroup: the freezer controller is not available")
        _write(path, state)
        deadline = time.monotonic() + 2.0
        while (_read(path) or state).strip() != state:  # FREEZING while tasks stop
            if time.monotonic() > deadline:
                raise FreightError(f"cgroup: timed out waiting for freezer state {state}")
            time.sleep(0.001)

    # ---- creation

    def apply(self, resources: Resources) -> None:
        """Write the limits: memory before memsw, cpuset mems before cpus."""
        self._apply_memory(resources)
        self._apply_cpu(resources)
        if resources.pins_cpuset():
            self._apply_cpuset(resources)
        if resources.pids_limit is not None and resources.pids_limit > 0:
            self._set("pids", "pids.max", str(resources.pids_limit))
        if resources.devices is not None and "devices" in self.dirs:
            for rule in resources.devices:
                name = "devices.allow" if rule.allow else "devices.deny"
                self._set("devices", name, rule.v1_line())

    def _set(self, controller: str, name: str, value: str) -> None:
        path = self._file(controller, name)
        if path is None:
            raise FreightError(f"cgroup: the {controller} controller is not available on this host")
        _write(path, value)

    def _apply_memory(self, resources: Resources) -> None:
        if resources.memory:
            self._set("memory", "memory.limit_in_bytes", str(resources.memory))
        swap = resources.effective_memory_swap()
        memsw = self._file("memory", "memory.memsw.limit_in_bytes")
        if swap and memsw and os.path.exists(memsw):
            _write(memsw, str(swap))
        if resources.memory_reservation:
            self._set("memory", "memory.soft_limit_in_bytes", str(resources.memory_reservation))

    def _apply_cpu(self, resources: Resources) -> None:
        if resources.cpu_shares:
            self._set("cpu", "cpu.shares", str(resources.cpu_shares))
        cfs = resources.cfs()
        if cfs:
            quota, period = cfs
            self._set("cpu", "cpu.cfs_period_us", str(period))
            self._set("cpu", "cpu.cfs_quota_us", str(quota))

    def _apply_cpuset(self, resources: Resources) -> None:
        parent = os.path.dirname(self.dirs["cpuset"])
        mems = resources.cpuset_mems or (_read(os.path.join(parent, "cpuset.mems")) or "").strip()
        cpus = resources.cpuset_cpus or (_read(os.path.join(parent, "cpuset.cpus")) or "").strip()
        self._set("cpuset", "cpuset.mems", mems)
        self._set("cpuset", "cpuset.cpus", cpus)


class CgroupV2(Cgroup):
    """One directory in the unified hierarchy."""

    def __init__(self, container_id: str, path: str) -> None:
        self.container_id = container_id
        self.path = path
        self.devices_enforced = False  # needs a BPF program: see module docstring

    def directories(self) -> list[str]:
        return [self.path]

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def add(self, pid: int) -> None:
        _write(self._file("cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        return _pids_of(self.path)

    def oom_killed(self) -> bool:
        return _keyed(self._file("memory.events")).get("oom_kill", 0) > 0

    def stats(self) -> CgroupStats:
        usage = _read_int(self._file("memory.current"))
        if usage is not None:
            usage = max(usage - _keyed(self._file("memory.stat")).get("inactive_file", 0), 0)
        cpu_usec = _keyed(self._file("cpu.stat")).get("usage_usec")
        return CgroupStats(
            memory_usage=usage,
            memory_limit=_read_int(self._file("memory.max")),  # "max" reads as None
            cpu_usage_ns=None if cpu_usec is None else cpu_usec * 1000,
            pids_current=_read_int(self._file("pids.current")),
            pids_limit=_read_int(self._file("pids.max")),
        )

    def freeze(self) -> None:
        self._set_frozen("1")

    def thaw(self) -> None:
        self._set_frozen("0")

    def _set_frozen(self, value: str) -> None:
        if not os.path.isdir(self.path):
            raise FreightError(f"cgroup: {self.path} does not exist")
        _write(self._file("cgroup.freeze"), value)
        events = self._file("cgroup.events")
        deadline = time.monotonic() + 2.0
        while os.path.exists(events) and _keyed(events).get("frozen", int(value)) != int(value):
            if time.monotonic() > deadline:
                raise FreightError("cgroup: timed out waiting for the cgroup to freeze")
            time.sleep(0.001)

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """cgroup.kill (Linux 5.14+) kills atomically; older kernels freeze and signal."""
        kill_file = self._file("cgroup.kill")
        if sig == signal.SIGKILL and os.path.exists(kill_file):
            _write(kill_file, "1")
            return
        super().kill_all(sig)

    # ---- creation

    def apply(self, resources: Resources) -> None:
        if resources.memory:
            _write(self._file("memory.max"), str(resources.memory))
        swap = _v2_swap(resources)
        if swap is not None:
            _write(self._file("memory.swap.max"), swap)
        if resources.memory_reservation:
            _write(self._file("memory.low"), str(resources.memory_reservation))
        if resources.cpu_shares:
            _write(self._file("cpu.weight"), str(shares_to_weight(resources.cpu_shares)))
        cfs = resources.cfs()
        if cfs:
            quota, period = cfs
            _write(self._file("cpu.max"), f"{'max' if quota < 0 else quota} {period}")
        if resources.cpuset_mems:
            _write(self._file("cpuset.mems"), resources.cpuset_mems)
        if resources.cpuset_cpus:
            _write(self._file("cpuset.cpus"), resources.cpuset_cpus)
        if resources.pids_limit is not None and resources.pids_limit > 0:
            _write(self._file("pids.max"), str(resources.pids_limit))


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), as runc does."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def _v2_swap(resources: Resources) -> str | None:
    """memory.swap.max holds swap alone; Docker's flag is memory plus swap."""
    total = resources.effective_memory_swap()
    if total is None or total == 0:
        return None
    if total == -1:
        return "max"
    return str(max(total - (resources.memory or 0), 0))


def _v1_controllers(resources: Resources, layout: Layout) -> list[str]:
    wanted = [c for c in V1_BASE_CONTROLLERS if not (c == "devices" and resources.devices is None)]
    if resources.pins_cpuset():
        wanted.append("cpuset")
    return [c for c in wanted if c in layout.v1]


def _mkdirs_v1(container_id: str, resources: Resources, layout: Layout) -> CgroupV1:
    dirs: dict[str, str] = {}
    for controller in _v1_controllers(resources, layout):
        mount = layout.v1[controller]
        parent = os.path.join(mount, parent_name())
        _mkdir(parent)
        if controller == "cpuset":
            _inherit_cpuset(mount, parent)
        directory = os.path.join(parent, container_id)
        if directory not in dirs.values():
            _mkdir(directory)
        dirs[controller] = directory
    return CgroupV1(container_id, dirs)


def _inherit_cpuset(mount: str, parent: str) -> None:
    """A new v1 cpuset starts empty and takes no tasks until cpus and mems are set."""
    for name in ("cpuset.mems", "cpuset.cpus"):
        if (_read(os.path.join(parent, name)) or "").strip():
            continue
        _write(os.path.join(parent, name), (_read(os.path.join(mount, name)) or "").strip())


def _enable_v2_controllers(root: str, parent: str, created: bool, cpuset: bool) -> None:
    """Enable the controllers for freight's children in the root and in ``freight/``."""
    available = set((_read(os.path.join(root, "cgroup.controllers")) or "").split())
    wanted = [c for c in V2_CONTROLLERS + (("cpuset",) if cpuset else ()) if c in available]
    if not created:
        enabled = set((_read(os.path.join(parent, "cgroup.subtree_control")) or "").split())
        wanted = [c for c in wanted if c not in enabled]
    if wanted:
        line = " ".join("+" + c for c in wanted)
        _write(os.path.join(root, "cgroup.subtree_control"), line)
        _write(os.path.join(parent, "cgroup.subtree_control"), line)


def _mkdirs_v2(container_id: str, resources: Resources, root: str, parent: str) -> CgroupV2:
    _enable_v2_controllers(root, parent, _mkdir(parent), resources.pins_cpuset())
    path = os.path.join(parent, container_id)
    _mkdir(path)
    return CgroupV2(container_id, path)


def _v2_parent(layout: Layout) -> tuple[str, str] | None:
    """(the directory whose controllers freight's parent takes, that parent) on cgroup v2: the
    root and ``freight`` for root, or the user's delegated subtree (``user_v2_subtree``) and
    ``freight`` in it; None where containers' cgroups are v1's (or, rootless, none)."""
    if rootless():
        subtree = user_v2_subtree(layout.v2_root) if layout.v2_root is not None else None
        return (subtree, os.path.join(subtree, PARENT)) if subtree is not None else None
    if layout.mode != "v2":
        return None
    assert layout.v2_root is not None
    return layout.v2_root, os.path.join(layout.v2_root, PARENT)


def own_v2_cgroup(v2_root: str) -> str | None:
    """This process's cgroup v2 directory (the ``0::PATH`` line of /proc/self/cgroup)."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return os.path.normpath(os.path.join(v2_root, line[3:].strip().lstrip("/")))
    return None


def user_v2_subtree(v2_root: str) -> str | None:
    """The cgroup v2 subtree delegated to this (rootless) user, or None: ``freight-user-UID`` at
    ``v2_root`` when an administrator made it the user's, else the topmost ancestor of this
    process's own cgroup that the user owns (a systemd user session delegates
    ``user@UID.service`` so) -- in either case only when the memory and pids controllers are
    available there (its ``cgroup.controllers``), as limits need them."""
    candidates = [os.path.join(v2_root, parent_name())]
    if (mine := own_v2_cgroup(v2_root)) is not None:
        candidates.append(_topmost_owned(v2_root, mine) or "")
    for subtree in candidates:
        if subtree and _owned(subtree) and set(V2_LIMIT_CONTROLLERS) <= _v2_controllers(subtree):
            return subtree
    return None


def _owned(path: str) -> bool:
    try:
        return os.stat(path).st_uid == os.geteuid()
    except OSError:
        return False


def _topmost_owned(v2_root: str, path: str) -> str | None:
    """The highest directory from ``path`` up (below ``v2_root``) that this user owns."""
    found = None
    while path.startswith(v2_root + "/") and _owned(path):
        found, path = path, os.path.dirname(path)
    return found


def _v2_controllers(path: str) -> set[str]:
    return set((_read(os.path.join(path, "cgroup.controllers")) or "").split())


def create(container_id: str, resources: Resources | None = None,
           layout: Layout | None = None) -> Cgroup | None:
    """Validate ``resources``, create the container's cgroups and apply the limits.

    Rootless (see ``delegated``): None when no subtree is delegated to the user and no
    limit is asked for; device rules are the mount namespace's job there (a user cannot
    write v1 ``devices.*`` files)."""
    layout = layout or detect_layout()
    resources = resources or Resources()
    resources.validate()
    if rootless():
        resources.devices = None
        if not delegated(layout):
            _refuse_limits(resources, layout)
            return None
    v2 = _v2_parent(layout)
    if v2 is not None:
        cgroup: Cgroup = _mkdirs_v2(container_id, resources, *v2)
    else:
        cgroup = _mkdirs_v1(container_id, resources, layout)
    try:
        cgroup.apply(resources)
    except FreightError:
        cgroup.destroy()
        raise
    return cgroup



def parent_name() -> str:
    """The directory containers' cgroups go in: ``freight`` for root; for a rootless user
    ``freight-user-UID``, which an administrator creates and hands to the user (a v1
    directory per controller, or one on v2) for limits to work rootless."""
    return f"{PARENT}-user-{host_uid()}" if rootless() else PARENT


def delegated(layout: Layout) -> bool:
    """Whether the user has a subtree of their own: a cgroup v2 one with the controllers limits
    need (``user_v2_subtree``), or ``freight-user-UID`` in every v1 controller's hierarchy."""
    if _v2_parent(layout) is not None:
        return True
    roots = [layout.v1[c] for c in V1_BASE_CONTROLLERS if c in layout.v1 and c != "devices"]
    return bool(roots) and all(os.access(os.path.join(r, parent_name()), os.W_OK) for r in roots)


def _refuse_limits(resources: Resources, layout: Layout) -> None:
    asked = [flag for flag, value in (("--memory", resources.memory), ("--memory-swap", resources.memory_swap),
                                      ("--memory-reservation", resources.memory_reservation),
                                      ("--cpus", resources.cpus), ("--cpu-quota", resources.cpu_quota),
                                      ("--cpu-shares", resources.cpu_shares), ("--cpuset-cpus", resources.cpuset_cpus),
                                      ("--cpuset-mems", resources.cpuset_mems), ("--pids-limit", resources.pids_limit))
             if value is not None]
    if asked:
        where = layout.v2_root if layout.mode == "v2" else layout.v1.get("memory", CGROUP_ROOT)
        raise FreightError(f"rootless: {asked[0]} needs a cgroup subtree delegated to this user, and "
                           f"{os.path.join(where or CGROUP_ROOT, parent_name())} is not one{_v2_why(layout)} "
                           "(run without limit flags, or have an administrator create it for this user)")


def _v2_why(layout: Layout) -> str:
    """Why the user's own cgroup v2 subtree (if any) cannot take limits, for the error."""
    mine = own_v2_cgroup(layout.v2_root) if layout.v2_root is not None else None
    subtree = _topmost_owned(layout.v2_root, mine) if layout.v2_root is not None and mine is not None else None
    if subtree is None:
        return ""
    missing = [c for c in V2_LIMIT_CONTROLLERS if c not in _v2_controllers(subtree)]
    return f", nor is this user's cgroup v2 subtree {subtree}: it has no {' or '.join(missing)} controller"


def load(container_id: str, layout: Layout | None = None) -> Cgroup | None:
    """Reopen an existing container cgroup (None when it has none)."""
    layout = layout or detect_layout()
    v2 = _v2_parent(layout)
    if v2 is not None:
        path = os.path.join(v2[1], container_id)
        return CgroupV2(container_id, path) if os.path.isdir(path) else None
    if layout.mode == "v2":
        return None  # rootless without a delegated subtree
    dirs = {}
    for controller, mount in layout.v1.items():
        directory = os.path.join(mount, parent_name(), container_id)
        if os.path.isdir(directory):
            dirs[controller] = directory
    return CgroupV1(container_id, dirs) if dirs else None
