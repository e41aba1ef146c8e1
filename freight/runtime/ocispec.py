"""A container process as an OCI runtime-spec ``config.json``, and back.

``to_config`` describes a ``ContainerSpec`` (with its cgroup limits and OCI hooks)
as the runtime-spec (1.0.2) describes a container: what any OCI runtime (crun,
runc, runsc) needs in a bundle. ``from_config`` is the built-in runtime's reading
of such a file: it takes out what the launcher needs, then describes that again
and compares, so a field the built-in runtime would not honour exactly (a sysctl,
an unknown mount type, a changed option) fails with an error naming the field
instead of being ignored.

freight's own details that the runtime-spec has no words for live in
``annotations`` under ``org.freight.``: the mounts (the snapshot store's) the built-in
runtime makes the root of (an external runtime gets them mounted beforehand), ``--init``, and the
volumes that first get the image's content.
"""

from __future__ import annotations

import json

from freight.errors import FreightError
from freight.record import Record, field, replace
from freight.runtime import syscalls as sc
from freight.runtime.cgroups import PARENT
from freight.runtime.hooks import STAGES, Hook
from freight.runtime.limits import DeviceRule, Resources
from freight.runtime.rootfs import HOST_FILES, MASKED_PATHS, READONLY_PATHS
from freight.runtime.spec import (
    NETWORK_HOST,
    NETWORK_JOINED,
    NETWORK_PRIVATE,
    ContainerSpec,
    DeviceNode,
    Mount,
    shm_size_option,
)
from freight.store.snapshots import SnapshotMount

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.0.2"
ANNOTATION = "org.freight."
RLIMIT_NAMES = ("RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
                "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
                "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME")
_UINT64_MAX = (1 << 64) - 1
_FLAG_WORDS = (("nosuid", sc.MS_NOSUID), ("nodev", sc.MS_NODEV), ("noexec", sc.MS_NOEXEC),
               ("sync", 16), ("mand", 64), ("dirsync", 128), ("noatime", 1024), ("nodiratime", 2048),
               ("relatime", 1 << 21), ("strictatime", sc.MS_STRICTATIME))
_KERNEL_FS = ("nosuid", "noexec", "nodev")


class UnsupportedField(FreightError):
    """A config.json field the built-in runtime cannot honour (exit 125)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"config.json: the built-in runtime cannot honour {path}; "
                         f"run this container with an OCI runtime (--runtime)")


class RuntimeInput(Record, frozen=False):
    """What the built-in runtime takes out of a config.json: the process to launch,
    its cgroup's limits (None: no cgroup) and its OCI hooks by stage."""

    spec: ContainerSpec
    resources: Resources | None = None
    hooks: dict[str, list[Hook]] = field(default_factory=dict)


# ---------------------------------------------------------------- to config.json


def to_config(spec: ContainerSpec, resources: Resources | None = None,
              hooks: dict[str, list[Hook]] | None = None) -> dict[str, Any]:
    """The runtime-spec config of ``spec``, whose ``user`` is numeric (``uid:gid``, the
    image's names resolved by ``bundle.resolve_identity``) and ``env`` final."""
    config: dict[str, Any] = {"ociVersion": OCI_VERSION, "process": _process(spec),
                              "root": {"path": spec.merged, "readonly": spec.readonly_rootfs}}
    if not spec.uts_host:
        config["hostname"] = spec.hostname
    config["mounts"] = _mounts(spec)
    config["linux"] = _linux(spec, resources)
    if hooks:
        config["hooks"] = {stage: [_hook(h) for h in hooks[stage]] for stage in STAGES if hooks.get(stage)}
    config["annotations"] = _annotations(spec)
    return config


def process_config(spec: ContainerSpec) -> dict[str, Any]:
    """The ``process`` of ``spec`` alone: what ``exec`` hands a runtime (process.json)."""
    return _process(spec)


def _process(spec: ContainerSpec) -> dict[str, Any]:
    uid, gid = numeric_user(spec.user)
    process: dict[str, Any] = {"terminal": spec.tty}
    if spec.tty and spec.console_size is not None:
        process["consoleSize"] = {"height": spec.console_size[0], "width": spec.console_size[1]}
    process |= {
        "user": {"uid": uid, "gid": gid, "additionalGids": [int(g) for g in spec.group_add]},
        "args": list(spec.args), "env": list(spec.env), "cwd": spec.cwd or "/",
        "capabilities": {kind: list(spec.caps) for kind in ("bounding", "effective", "permitted")},
        "noNewPrivileges": spec.no_new_privileges,
    }
    if spec.ulimits:
        process["rlimits"] = [{"type": RLIMIT_NAMES[number], "soft": _rlim(soft), "hard": _rlim(hard)}
                              for number, soft, hard in spec.ulimits]
    return process


def numeric_user(user: str) -> tuple[int, int]:
    """``uid:gid`` -> (uid, gid); anything else was not resolved, which is freight's bug."""
    uid, _, gid = user.partition(":")
    if not (uid.isdigit() and gid.isdigit()):
        raise FreightError(f"config.json: process.user must be numeric, not {user!r}")
    return int(uid), int(gid)


def _rlim(value: int) -> int:
    return _UINT64_MAX if value < 0 else value


def _mounts(spec: ContainerSpec) -> list[dict[str, Any]]:
    return [*_kernel_mounts(spec), *_host_file_mounts(spec),
            *(_user_mount(m) for m in sorted(spec.mounts, key=lambda m: m.target.rstrip("/").count("/")))]


def _kernel_mounts(spec: ContainerSpec) -> list[dict[str, Any]]:
    """/proc, /dev, /sys and /sys/fs/cgroup, as ``rootfs`` builds them."""
    ro = [] if spec.privileged else ["ro"]
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": [*_KERNEL_FS]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    ]
    if spec.ipc_host:
        mounts.append({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                       "options": ["rbind", "rw"]})
    else:
        mounts += [{"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                    "options": [*_KERNEL_FS, "mode=1777", shm_size_option(spec.shm_size)]},
                   {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                    "options": [*_KERNEL_FS]}]
    if spec.network == NETWORK_HOST and not spec.privileged:
        mounts.append({"destination": "/sys", "type": "bind", "source": "/sys",
                       "options": ["rbind", "ro", *_KERNEL_FS]})
    else:
        mounts.append({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [*_KERNEL_FS, *ro]})
    mounts.append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                   "options": [*_KERNEL_FS, "relatime", *ro]})
    return mounts


def _shm_size(mounts: list[dict[str, Any]]) -> int:
    shm = next((m for m in mounts if m["destination"] == "/dev/shm" and m["type"] == "tmpfs"), None)
    size = next((o[5:] for o in (shm or {}).get("options") or [] if o.startswith("size=")), "65536k")
    return 0 if size == "65536k" else int(size)


def _host_file_mounts(spec: ContainerSpec) -> list[dict[str, Any]]:
    taken = {m.target for m in spec.mounts}
    return [{"destination": f"/etc/{name}", "type": "bind", "source": f"{spec.container_dir}/{name}",
             "options": ["rbind", "rprivate"]}
            for name in HOST_FILES if f"/etc/{name}" not in taken]


def _flag_words(flags: int) -> list[str]:
    return [word for word, bit in _FLAG_WORDS if flags & bit]


def _user_mount(m: Mount) -> dict[str, Any]:
    access = "ro" if m.readonly else "rw"
    if m.type == "tmpfs":
        options = [access, *_flag_words(m.flags), *(w for w in m.data.split(",") if w)]
        return {"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": options}
    return {"destination": m.target, "type": "bind", "source": m.source,
            "options": ["rbind", access, *_flag_words(m.flags)]}


def _linux(spec: ContainerSpec, resources: Resources | None) -> dict[str, Any]:
    linux: dict[str, Any] = {"namespaces": [_namespace(spec, t) for t in _namespaces(spec)]}
    if spec.devices:
        linux["devices"] = [{"path": d.path, "type": d.kind, "major": d.major, "minor": d.minor,
                             "fileMode": d.mode, "uid": d.uid, "gid": d.gid} for d in spec.devices]
    if resources is not None:
        linux["resources"] = _resources(resources)
        linux["cgroupsPath"] = f"/{PARENT}/{spec.id}"
    if spec.seccomp is not None:
        linux["seccomp"] = spec.seccomp
    if spec.masked_paths and not spec.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    return linux


def _namespace(spec: ContainerSpec, kind: str) -> dict[str, str]:
    """A namespace entry: a new one, or (a network made and wired by the supervisor) one to join."""
    if kind == "network" and spec.network == NETWORK_JOINED:
        return {"type": kind, "path": spec.netns_path}
    return {"type": kind}


def _namespaces(spec: ContainerSpec) -> list[str]:
    wanted = [("pid", not spec.pid_host), ("network", spec.network != NETWORK_HOST),
              ("ipc", not spec.ipc_host), ("uts", not spec.uts_host), ("mount", True), ("cgroup", True)]
    return [name for name, new in wanted if new]


def _resources(res: Resources) -> dict[str, Any]:
    out: dict[str, Any] = {}
    memory = {"limit": res.memory, "reservation": res.memory_reservation, "swap": res.effective_memory_swap()}
    if any(v is not None for v in memory.values()):
        out["memory"] = {k: v for k, v in memory.items() if v is not None}
    cpu: dict[str, Any] = {}
    if res.cpu_shares:
        cpu["shares"] = res.cpu_shares
    cfs = res.cfs()
    if cfs is not None:
        cpu["quota"], cpu["period"] = cfs
    if res.cpuset_cpus:
        cpu["cpus"] = res.cpuset_cpus
    if res.cpuset_mems:
        cpu["mems"] = res.cpuset_mems
    if cpu:
        out["cpu"] = cpu
    if res.pids_limit and res.pids_limit > 0:
        out["pids"] = {"limit": res.pids_limit}
    rules = [DeviceRule("a")] if res.devices is None else res.devices
    out["devices"] = [_device_rule(r) for r in rules]
    return out


def _device_rule(rule: DeviceRule) -> dict[str, Any]:
    out: dict[str, Any] = {"allow": rule.allow, "type": rule.type}
    if rule.major is not None:
        out["major"] = rule.major
    if rule.minor is not None:
        out["minor"] = rule.minor
    out["access"] = rule.access
    return out


def _hook(hook: Hook) -> dict[str, Any]:
    out: dict[str, Any] = {"path": hook.path, "args": list(hook.args), "env": list(hook.env)}
    if hook.timeout is not None:
        out["timeout"] = hook.timeout
    return out


def _annotations(spec: ContainerSpec) -> dict[str, str]:
    out = {ANNOTATION + "container-dir": spec.container_dir}
    if spec.rootfs:
        out[ANNOTATION + "rootfs"] = json.dumps([{"type": m.type, "source": m.source, "options": list(m.options),
                                                  "cwd": m.cwd} for m in spec.rootfs])
    copy_up = [m.target for m in spec.mounts if m.copy_up]
    if copy_up:
        out[ANNOTATION + "copy-up"] = json.dumps(copy_up)
    return out


# ---------------------------------------------------------------- from config.json


def from_config(config: dict[str, Any], container_id: str) -> RuntimeInput:
    """The built-in runtime's reading of ``config``; raises ``UnsupportedField`` naming
    the first field it would not honour exactly."""
    try:
        parsed = _parse(config, container_id)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise UnsupportedField(f"a field it cannot read ({err!r})") from None
    again = to_config(parsed.spec, parsed.resources, parsed.hooks)
    difference = None if config == again else first_difference(config, again)
    if difference is not None:
        raise UnsupportedField(difference)
    return parsed


def first_difference(given: Any, expected: Any, path: str = "") -> str | None:
    """The path (``linux.resources.memory.limit``, ``mounts[3]``) of the first place
    where ``given`` differs from ``expected``; None when they are equal."""
    if isinstance(given, dict) and isinstance(expected, dict):
        for key in [*given, *(k for k in expected if k not in given)]:
            inner = f"{path}.{key}" if path else str(key)
            if key not in given or key not in expected:
                return inner
            found = first_difference(given[key], expected[key], inner)
            if found is not None:
                return found
        return None
    if isinstance(given, list) and isinstance(expected, list):
        for index, (a, b) in enumerate(zip(given, expected)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found is not None:
                return found
        if len(given) != len(expected):
            return f"{path}[{min(len(given), len(expected))}]"
        return None
    if given != expected or type(given) is not type(expected):
        return path or "config.json"
    return None


def _parse(config: dict[str, Any], container_id: str) -> RuntimeInput:
    process = config["process"]
    notes = config.get("annotations") or {}
    linux = config.get("linux") or {}
    namespaces = {ns["type"] for ns in linux.get("namespaces") or []}
    netns_path = next((ns.get("path", "") for ns in linux.get("namespaces") or [] if ns["type"] == "network"), "")
    user = process["user"]
    mounts = config.get("mounts") or []
    cgroup_mount = next((m for m in mounts if m.get("destination") == "/sys/fs/cgroup"), None)
    privileged = cgroup_mount is not None and "ro" not in (cgroup_mount.get("options") or [])
    container_dir = notes[ANNOTATION + "container-dir"]
    copy_up = set(json.loads(notes.get(ANNOTATION + "copy-up", "[]")))
    rootfs = [SnapshotMount(m["type"], m["source"], tuple(m.get("options") or ()), m.get("cwd") or "")
              for m in json.loads(notes.get(ANNOTATION + "rootfs", "[]"))]
    spec = ContainerSpec(
        id=container_id, container_dir=container_dir, rootfs=rootfs,
        args=list(process["args"]), env=list(process.get("env") or []), cwd=process.get("cwd") or "/",
        user=f"{user['uid']}:{user['gid']}", group_add=[str(g) for g in user.get("additionalGids") or []],
        hostname=config.get("hostname", ""), tty=bool(process.get("terminal")),
        network=NETWORK_JOINED if netns_path else NETWORK_PRIVATE if "network" in namespaces else NETWORK_HOST,
        netns_path=netns_path,
        pid_host="pid" not in namespaces, ipc_host="ipc" not in namespaces, uts_host="uts" not in namespaces,
        readonly_rootfs=bool(config["root"].get("readonly")), privileged=privileged,
        caps=list((process.get("capabilities") or {}).get("bounding") or []),
        no_new_privileges=bool(process.get("noNewPrivileges")),
        ulimits=[(RLIMIT_NAMES.index(r["type"]), _from_rlim(r["soft"]), _from_rlim(r["hard"]))
                 for r in process.get("rlimits") or []],
        mounts=[_parse_mount(m, copy_up) for m in mounts if _is_user_mount(m, container_dir)],
        shm_size=_shm_size(mounts),
        devices=[DeviceNode(d["path"], d["type"], d["major"], d["minor"], d.get("fileMode", 0o666),
                            d.get("uid", 0), d.get("gid", 0)) for d in linux.get("devices") or []],
        masked_paths=privileged or bool(linux.get("maskedPaths")), seccomp=linux.get("seccomp"),
        console_size=_console_size(process))
    resources = _parse_resources(linux["resources"]) if "cgroupsPath" in linux else None
    hooks = {stage: [Hook(h["path"], list(h.get("args") or []), list(h.get("env") or []), h.get("timeout"))
                     for h in entries] for stage, entries in (config.get("hooks") or {}).items()}
    return RuntimeInput(spec, resources, hooks)


def from_process(process: dict[str, Any], spec: ContainerSpec) -> ContainerSpec:
    """``spec`` (the container's) running ``process`` (a process.json, for ``exec``);
    raises ``UnsupportedField`` as ``from_config`` does."""
    out = replace(spec)
    try:
        user = process["user"]
        out.args, out.env, out.cwd = list(process["args"]), list(process.get("env") or []), process["cwd"]
        out.user = f"{user['uid']}:{user['gid']}"
        out.group_add = [str(g) for g in user.get("additionalGids") or []]
        out.tty, out.no_new_privileges = bool(process.get("terminal")), bool(process.get("noNewPrivileges"))
        out.console_size = _console_size(process)
        out.caps = list((process.get("capabilities") or {}).get("bounding") or [])
        out.ulimits = [(RLIMIT_NAMES.index(r["type"]), _from_rlim(r["soft"]), _from_rlim(r["hard"]))
                       for r in process.get("rlimits") or []]
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise UnsupportedField(f"a process field it cannot read ({err!r})") from None
    difference = first_difference(process, process_config(out), "process")
    if difference is not None:
        raise UnsupportedField(difference)
    return out


def _console_size(process: dict[str, Any]) -> tuple[int, int] | None:
    size = process.get("consoleSize")
    return (size["height"], size["width"]) if size is not None else None


def _from_rlim(value: int) -> int:
    return -1 if value == _UINT64_MAX else value


_KERNEL_DESTINATIONS = frozenset({"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"})


def _is_user_mount(m: dict[str, Any], container_dir: str) -> bool:
    """Not one of the mounts every container gets (kernel filesystems, /etc/hosts and co.)."""
    destination = m["destination"]
    if destination in _KERNEL_DESTINATIONS:
        return False
    name = destination.removeprefix("/etc/")
    return not (name in HOST_FILES and m.get("source") == f"{container_dir}/{name}")


def _parse_mount(m: dict[str, Any], copy_up: set[str]) -> Mount:
    options = list(m.get("options") or [])
    words = dict(_FLAG_WORDS)
    flags = sum(words[o] for o in options if o in words)
    readonly = "ro" in options
    if m["type"] == "tmpfs":
        data = ",".join(o for o in options if o not in words and o not in ("ro", "rw"))
        return Mount("tmpfs", m["destination"], flags=flags, data=data, readonly=readonly)
    return Mount("bind", m["destination"], m["source"], readonly=readonly, flags=flags,
                 copy_up=m["destination"] in copy_up)


def _parse_resources(raw: dict[str, Any]) -> Resources:
    memory = raw.get("memory") or {}
    cpu = raw.get("cpu") or {}
    devices = [DeviceRule(d.get("type", "a"), d.get("major"), d.get("minor"), d.get("access", "rwm"),
                          bool(d.get("allow"))) for d in raw.get("devices") or []]
    return Resources(
        memory=memory.get("limit"), memory_swap=memory.get("swap"), memory_reservation=memory.get("reservation"),
        cpu_period=cpu.get("period"), cpu_quota=cpu.get("quota"), cpu_shares=cpu.get("shares"),
        cpuset_cpus=cpu.get("cpus"), cpuset_mems=cpu.get("mems"), pids_limit=(raw.get("pids") or {}).get("limit"),
        devices=None if devices == [DeviceRule("a")] else devices)
