"""Host devices for containers: ``--device`` and ``--gpus`` (through CDI).

``--device /dev/x[:/dev/y][:rwm]`` gives the container a node with the host
device's type and numbers, plus the device cgroup rule that lets it use them.

``--gpus`` goes through the Container Device Interface (CDI): vendors describe their
devices in spec files (JSON or YAML) under /etc/cdi and /var/run/cdi (the later
directory wins on conflicts).  Each spec has a ``kind`` (``nvidia.com/gpu``), named
devices, and *container edits* (device nodes, mounts, environment, OCI hooks) for each
device and for the spec as a whole.  ``--gpus all|N|device=ID[,ID]`` selects devices of
kind ``nvidia.com/gpu``; ``--device nvidia.com/gpu=0`` names CDI devices directly.
``FREIGHT_CDI_SPEC_DIRS`` (colon separated, like dockerd's ``cdi-spec-dirs``) replaces
the two default directories; set but empty, it disables CDI.  The specs are read at
each start, in the environment of the process that starts the container (the CLI; a
detached container's monitor inherits it).

Public API
----------
``parse_device(value) -> DeviceRequest``            ``--device`` syntax (no I/O)
``host_devices(request) -> (nodes, rules)``         stat the host path (dirs recurse)
``parse_device_cgroup_rule(value) -> DeviceRule``   ``--device-cgroup-rule``
``is_cdi_name(value) -> bool``                      ``vendor.com/class=name``?
``parse_gpus(value) -> GpuRequest``                 ``--gpus`` syntax
``CdiRegistry(spec_dirs=None)``                     the specs (``cdi_spec_dirs()`` by
                                                    default); ``.kinds()``,
                                                    ``.devices(kind)``, ``.edits(names)``
``cdi_spec_dirs() -> list[str]``                    $FREIGHT_CDI_SPEC_DIRS or CDI_DIRS
``oci_state(id, status, bundle, pid) -> dict``      what a hook reads on stdin
``run_hooks(stage, hooks, state, fatal=True)``      run one stage's OCI hooks
``gpu_device_names(request, registry) -> list[str]``  ``--gpus`` to CDI names
``ContainerEdits``                                  what to apply: ``devices``
    (``spec.DeviceNode``), ``rules`` (``cgroups.DeviceRule``), ``mounts``
    (``spec.Mount``), ``env`` (``KEY=VALUE``), ``hooks`` (stage -> ``[Hook]``),
    ``additional_gids``; ``.merge_env(env)`` applies CDI's env over the image's.

How the runtime core calls it
-----------------------------
At ``freight run`` argument time: ``parse_device`` for each ``--device`` and
``parse_gpus`` for ``--gpus`` (syntax errors, exit 125).  Before creating the
container (still in the parent, before fork):

    edits = ContainerEdits()
    for request in device_requests:            # plain --device paths
        nodes, rules = host_devices(request)
        edits.devices += nodes; edits.rules += rules
    names = [r.cdi_name for r in device_requests if r.cdi_name]
    if gpus:
        names += gpu_device_names(gpus, registry)
    if names:
        edits.extend(registry.edits(names))    # FreightError: unknown device, bad spec

then add ``edits.rules`` (and ``--device-cgroup-rule`` rules) to ``Resources.devices`` before ``cgroups.create`` (the rules
must follow the default deny), put ``edits.devices`` and ``edits.mounts`` into the
container spec (the child mknods the nodes in its /dev and mounts after the rootfs is
in place, before pivot_root), and ``env = edits.merge_env(env)``.  Hooks run as OCI
hooks do, with the container state JSON on stdin: ``createRuntime`` in the runtime
namespace after the namespaces exist and before pivot_root, ``createContainer`` in the
container's mount namespace before pivot_root, ``startContainer`` in the container just
before exec, ``poststart`` after the user's process started, ``poststop`` after it
exited.  ``Hook.timeout`` (seconds) is None for no limit.  ``prestart`` (deprecated in
OCI) runs with ``createRuntime``.  A failing hook of the first three stages fails the
start (exit 125, the hook's output in the message); ``poststart`` and ``poststop``
failures are only reported on stderr.  ``launch.fork_container(..., hooks=)`` runs the
stages up to ``startContainer``; ``containers`` runs ``poststart`` and ``poststop``.
A hook's ``path`` is a host path, except for ``startContainer`` (after the pivot: the
container's own filesystem).
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import stat
from collections import namedtuple  # not dataclasses: see docs/architecture.md, "Start-up time"
from collections.abc import Iterable

from freight.errors import FreightError, InvalidArgument
from freight.runtime import syscalls
from freight.runtime.cgroups import DeviceRule
from freight.runtime.spec import DeviceNode, Mount

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

CDI_DIRS = ("/etc/cdi", "/var/run/cdi")
GPU_KIND = "nvidia.com/gpu"
HOOK_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer",
               "poststart", "poststop")

_VENDOR = r"[A-Za-z](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_CLASS = r"[A-Za-z](?:[A-Za-z0-9_-]*[A-Za-z0-9])?"
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.:-]*[A-Za-z0-9])?"
_KIND_RE = re.compile(rf"^{_VENDOR}/{_CLASS}$")
_NAME_RE = re.compile(rf"^{_NAME}$")
_QUALIFIED_RE = re.compile(rf"^{_VENDOR}/{_CLASS}={_NAME}$")


# ---------------------------------------------------------------- --device


class DeviceRequest(namedtuple("DeviceRequest", "path_on_host path_in_container permissions cdi_name",
                               defaults=("", "", "rwm", ""))):
    """One ``--device``: a host path (or a CDI device name) and where it goes."""

    __slots__ = ()
    path_on_host: str
    path_in_container: str
    permissions: str
    cdi_name: str


def _valid_mode(mode: str) -> bool:
    """Docker's ValidDeviceMode: a non-empty combination of r, w, m, each once."""
    return bool(mode) and set(mode) <= set("rwm") and len(set(mode)) == len(mode)


def is_cdi_name(value: str) -> bool:
    """Whether ``value`` is a fully qualified CDI device name (``vendor/class=name``)."""
    return bool(_QUALIFIED_RE.match(value))


def parse_device(value: str) -> DeviceRequest:
    """Parse ``--device`` as Docker's CLI does: ``host[:container][:permissions]``."""
    if is_cdi_name(value):
        return DeviceRequest(cdi_name=value)

    def bad(reason: str) -> InvalidArgument:
        return InvalidArgument(f'invalid argument "{value}" for "--device" flag: {reason}')

    parts = value.split(":")
    if len(parts) > 3 or not parts[0]:
        raise bad(f"bad format for path: {value}")
    host, container, mode = parts[0], parts[0], "rwm"
    if len(parts) == 2:
        if _valid_mode(parts[1]):
            mode = parts[1]
        else:
            container = parts[1]
    elif len(parts) == 3:
        container, mode = parts[1], parts[2]
        if not _valid_mode(mode):
            raise bad(f"bad mode specified: {mode}")
    if not container.startswith("/"):
        raise bad(f"{container} is not an absolute path")
    return DeviceRequest(host, os.path.normpath(container), mode)


_CGROUP_RULE_RE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")


def parse_device_cgroup_rule(value: str) -> DeviceRule:
    """``--device-cgroup-rule 'c 42:* rmw'``: an extra allow rule, Docker's syntax."""
    match = _CGROUP_RULE_RE.match(value)
    if not match:
        raise InvalidArgument(f'invalid argument "{value}" for "--device-cgroup-rule" flag: '
                              f"invalid device cgroup format '{value}'")
    kind, major, minor, access = match.groups()
    return DeviceRule(kind, None if major == "*" else int(major),
                      None if minor == "*" else int(minor), access)


def _node_from_path(path: str, container_path: str) -> DeviceNode | None:
    """The device node at ``path`` (not following links), or None if not a device."""
    info = os.lstat(path)
    if stat.S_ISCHR(info.st_mode):
        kind = "c"
    elif stat.S_ISBLK(info.st_mode):
        kind = "b"
    else:
        return None
    return DeviceNode(container_path, kind, os.major(info.st_rdev), os.minor(info.st_rdev),
                      stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)


def _rule_for(node: DeviceNode, permissions: str) -> DeviceRule:
    return DeviceRule(node.kind, node.major, node.minor, permissions or "rwm")


def host_devices(request: DeviceRequest) -> tuple[list[DeviceNode], list[DeviceRule]]:
    """Resolve a ``--device`` path: one node, or every node below a directory."""
    host = request.path_on_host
    try:
        resolved = os.path.realpath(host) if os.path.islink(host) else host
        node = _node_from_path(resolved, request.path_in_container)
        reason = "not a device node"
    except OSError as exc:
        node, reason = None, (exc.strerror or str(exc)).lower()
    if node is not None:
        return [node], [_rule_for(node, request.permissions)]
    nodes = _nodes_below(resolved, request.path_in_container) if os.path.isdir(resolved) else []
    if not nodes:
        raise FreightError("error gathering device information while adding custom device "
                           f"{json.dumps(host)}: {reason}")
    return nodes, [_rule_for(n, request.permissions) for n in nodes]


def _nodes_below(directory: str, container_dir: str) -> list[DeviceNode]:
    nodes = []
    for parent, _, files in os.walk(directory):
        for name in sorted(files):
            path = os.path.join(parent, name)
            target = container_dir + path[len(directory):]
            try:
                node = _node_from_path(path, target)
            except OSError:
                continue
            if node is not None:
                nodes.append(node)
    return nodes


# ---------------------------------------------------------------- --gpus


class GpuRequest(namedtuple("GpuRequest", "count device_ids capabilities driver options",
                            defaults=(0, None, (("gpu",),), "", None))):
    """Docker's DeviceRequest as ``--gpus`` builds it; ``count`` -1 means all, and ``options``
    is None when ``--gpus`` gave none."""

    __slots__ = ()
    count: int
    device_ids: list[str] | None
    capabilities: Sequence[Sequence[str]]
    driver: str
    options: dict[str, str] | None


def _gpu_count(text: str) -> int:
    if text == "all":
        return -1
    if not re.fullmatch(r"[+-]?\d+", text):
        raise InvalidArgument(
            f'invalid argument "{text}" for "--gpus" flag: invalid count ({text}): '
            f'strconv.Atoi: parsing "{text}": invalid syntax'
        )
    return int(text)


def parse_gpus(value: str) -> GpuRequest:
    """Parse ``--gpus``: ``all``, ``2``, ``device=0,1`` (quoted in CSV), ``count=``,
    ``capabilities=``, ``driver=``, ``options=``; the fields are one CSV record."""
    def bad(reason: str) -> InvalidArgument:
        return InvalidArgument(f'invalid argument "{value}" for "--gpus" flag: {reason}')

    request: dict[str, Any] = {}  # GpuRequest's fields
    seen: set[str] = set()
    for fld in next(csv.reader([value]), []):
        key, sep, val = fld.partition("=")
        if key in seen:
            raise bad(f"gpu request key '{key}' can be specified only once")
        seen.add(key)
        if not sep:
            seen.add("count")
            request["count"] = _gpu_count(key)
        elif key == "count":
            request["count"] = _gpu_count(val)
        elif key == "device":
            request["device_ids"] = val.split(",")
        elif key == "driver":
            request["driver"] = val
        elif key == "capabilities":
            request["capabilities"] = [val.split(",") + ["gpu"]]
        elif key == "options":
            options = next(csv.reader([val]), [])
            request["options"] = dict(o.partition("=")[::2] for o in options)
        else:
            raise bad(f"unexpected key '{key}' in '{fld}'")
    if "count" not in seen and "device_ids" not in request:
        request["count"] = 1
    return GpuRequest(**request)


# ---------------------------------------------------------------- CDI


class Hook(namedtuple("Hook", "path args env timeout")):
    """An OCI hook from a CDI spec; ``args[0]`` is argv[0] as in the OCI spec."""

    __slots__ = ()
    path: str
    args: list[str]
    env: list[str]
    timeout: int | None


class ContainerEdits:
    """Everything the selected devices add to the container, in application order."""

    def __init__(self) -> None:
        self.env: list[str] = []
        self.devices: list[DeviceNode] = []
        self.rules: list[DeviceRule] = []
        self.mounts: list[Mount] = []
        self.hooks: dict[str, list[Hook]] = {}
        self.additional_gids: list[int] = []

    def extend(self, other: ContainerEdits) -> None:
        self.env += other.env
        self.devices += other.devices
        self.rules += other.rules
        self.mounts += other.mounts
        for stage, hooks in other.hooks.items():
            self.hooks.setdefault(stage, []).extend(hooks)
        self.additional_gids += [g for g in other.additional_gids if g not in self.additional_gids]
        self.mounts.sort(key=lambda m: len([p for p in m.target.split("/") if p]))

    def merge_env(self, env: list[str]) -> list[str]:
        """``env`` with CDI's variables set over it (a CDI value replaces the image's)."""
        merged = {entry.partition("=")[0]: entry for entry in env}
        for entry in self.env:
            merged[entry.partition("=")[0]] = entry
        return list(merged.values())


class CdiError(FreightError):
    """A CDI spec that cannot be used, or a device no spec provides."""


def _as_list(value: Any, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CdiError(f"{what} must be a list")
    return value


def _device_node_edit(raw: dict) -> tuple[DeviceNode, DeviceRule | None]:
    """A CDI deviceNode, with type and numbers filled in from the host as CDI does."""
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise CdiError(f"invalid device node path {path!r}")
    host_path = raw.get("hostPath") or path
    kind, major, minor = raw.get("type", ""), raw.get("major", 0), raw.get("minor", 0)
    mode, uid, gid = raw.get("fileMode"), raw.get("uid", 0), raw.get("gid", 0)
    if not kind or (not major and kind != "p"):
        try:
            host = _node_from_path(host_path, path)
        except OSError as exc:
            raise CdiError(f'failed to stat CDI host device "{host_path}": {exc.strerror}') from None
        if host is None:
            raise CdiError(f'failed to stat CDI host device "{host_path}": not a device node')
        if kind and kind != host.kind:
            raise CdiError(f'CDI device ("{path}", "{host_path}"), host type mismatch '
                           f"({kind}, {host.kind})")
        kind, major, minor = host.kind, host.major, host.minor
        mode = host.mode if mode is None else mode
    node = DeviceNode(path, kind, int(major), int(minor), 0o666 if mode is None else int(mode),
                      int(uid or 0), int(gid or 0))
    rule = _rule_for(node, raw.get("permissions") or "rwm") if kind in ("b", "c") else None
    return node, rule


_MOUNT_FLAGS = {"nosuid": syscalls.MS_NOSUID, "nodev": syscalls.MS_NODEV,
                "noexec": syscalls.MS_NOEXEC}


def _mount_edit(raw: dict) -> Mount:
    source, target = raw.get("hostPath"), raw.get("containerPath")
    if not isinstance(source, str) or not isinstance(target, str) or not target.startswith("/"):
        raise CdiError(f"invalid mount {raw!r}: needs hostPath and an absolute containerPath")
    options = [str(o) for o in _as_list(raw.get("options"), "mount options")]
    kind = raw.get("type") or "bind"
    if "bind" in options or "rbind" in options:
        kind = "bind"
    flags = 0
    data = []
    for option in options:
        if option in _MOUNT_FLAGS:
            flags |= _MOUNT_FLAGS[option]
        elif option not in ("ro", "rw", "bind", "rbind"):
            data.append(option)
    return Mount(kind, target, source, "ro" in options, ",".join(data), flags)


def _hook_edit(raw: dict) -> tuple[str, Hook]:
    stage, path = raw.get("hookName"), raw.get("path")
    if stage not in HOOK_STAGES:
        raise CdiError(f"invalid hook name {stage!r}")
    if not isinstance(path, str) or not path:
        raise CdiError("hook without a path")
    timeout = raw.get("timeout")
    return stage, Hook(path, [str(a) for a in _as_list(raw.get("args"), "hook args")],
                       [str(e) for e in _as_list(raw.get("env"), "hook env")],
                       None if timeout is None else int(timeout))


def _edits_from(raw: Any) -> ContainerEdits:
    """Convert one ``containerEdits`` object of a CDI spec."""
    if raw is None:
        return ContainerEdits()
    if not isinstance(raw, dict):
        raise CdiError("containerEdits must be an object")
    try:
        return _convert_edits(raw)
    except (TypeError, ValueError, AttributeError) as exc:  # a field of the wrong type
        raise CdiError(f"invalid containerEdits: {exc}") from None


def _convert_edits(raw: dict) -> ContainerEdits:
    edits = ContainerEdits()
    for entry in _as_list(raw.get("env"), "env"):
        if "=" not in str(entry):
            raise CdiError(f"invalid environment variable {entry!r}")
        edits.env.append(str(entry))
    for entry in _as_list(raw.get("deviceNodes"), "deviceNodes"):
        node, rule = _device_node_edit(entry)
        edits.devices.append(node)
        if rule is not None:
            edits.rules.append(rule)
    edits.mounts = [_mount_edit(m) for m in _as_list(raw.get("mounts"), "mounts")]
    for entry in _as_list(raw.get("hooks"), "hooks"):
        stage, hook = _hook_edit(entry)
        edits.hooks.setdefault(stage, []).append(hook)
    edits.additional_gids = [int(g) for g in _as_list(raw.get("additionalGids"), "additionalGids")]
    return edits


class _Spec(namedtuple("_Spec", "path kind devices edits")):
    __slots__ = ()
    path: str
    kind: str
    devices: dict[str, Any]  # name -> raw containerEdits of that device
    edits: Any  # raw top-level containerEdits


def _load_spec(path: str) -> _Spec:
    with open(path, "rb") as f:
        text = f.read()
    if path.endswith(".json"):
        raw = json.loads(text)
    else:
        import yaml  # only hosts with YAML CDI specs pay for the import

        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(raw, dict):
        raise CdiError("not a CDI spec object")
    if not raw.get("cdiVersion"):
        raise CdiError("missing cdiVersion")
    kind = raw.get("kind")
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise CdiError(f"invalid kind {kind!r}")
    devices = {}
    for device in _as_list(raw.get("devices"), "devices"):
        name = device.get("name") if isinstance(device, dict) else None
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise CdiError(f"invalid device name {name!r}")
        if name in devices:
            raise CdiError(f"device {name!r} defined twice")
        devices[name] = device.get("containerEdits")
    if not devices:
        raise CdiError("no devices")
    return _Spec(path, kind, devices, raw.get("containerEdits"))


def cdi_spec_dirs() -> list[str]:
    """The CDI spec directories: ``$FREIGHT_CDI_SPEC_DIRS`` (colon separated) or CDI_DIRS."""
    value = os.environ.get("FREIGHT_CDI_SPEC_DIRS")
    if value is None:
        return list(CDI_DIRS)
    return [d for d in value.split(":") if d]


class CdiRegistry:
    """The CDI specs found in ``spec_dirs``; later directories override earlier ones.

    Spec files that do not parse are skipped; their errors are in ``errors`` and named
    when a device cannot be resolved.
    """

    def __init__(self, spec_dirs: Iterable[str] | None = None) -> None:
        self.errors: list[str] = []
        self._owner: dict[str, _Spec] = {}  # qualified name -> spec
        self._conflicts: set[str] = set()
        for directory in cdi_spec_dirs() if spec_dirs is None else spec_dirs:
            self._load_dir(directory)

    def _load_dir(self, directory: str) -> None:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return
        owners: dict[str, _Spec] = {}
        conflicts: set[str] = set()
        for name in names:
            if not name.endswith((".json", ".yaml", ".yml")):
                continue
            path = os.path.join(directory, name)
            try:
                spec = _load_spec(path)
            except Exception as exc:  # noqa: BLE001 - any unusable file is skipped, as CDI does
                self.errors.append(f"{path}: {exc}")
                continue
            for device in spec.devices:
                qualified = f"{spec.kind}={device}"
                if qualified in owners:
                    conflicts.add(qualified)  # two specs of one directory: unresolvable
                owners[qualified] = spec
        for qualified, spec in owners.items():  # this directory overrides earlier ones
            self._owner[qualified] = spec
            self._conflicts.discard(qualified)
        self._conflicts |= conflicts

    def kinds(self) -> set[str]:
        return {name.partition("=")[0] for name in self._owner}

    def devices(self, kind: str) -> list[str]:
        """Names of the devices of ``kind``, in spec order."""
        return [q.partition("=")[2] for q in self._owner if q.partition("=")[0] == kind]

    def edits(self, qualified_names: Iterable[str]) -> ContainerEdits:
        """The edits of the named devices, each spec's own edits once, after them."""
        names = list(dict.fromkeys(qualified_names))
        missing = [n for n in names if n not in self._owner or n in self._conflicts]
        if missing:
            detail = f" ({'; '.join(self.errors)})" if self.errors else ""
            raise CdiError("CDI device injection failed: unresolvable CDI devices "
                           f"{', '.join(missing)}{detail}")
        result = ContainerEdits()
        used: list[_Spec] = []
        try:
            for name in names:
                spec = self._owner[name]
                result.extend(_edits_from(spec.devices[name.partition("=")[2]]))
                if spec not in used:
                    used.append(spec)
            for spec in used:
                result.extend(_edits_from(spec.edits))
        except CdiError as exc:
            raise CdiError(f"CDI device injection failed: {exc}") from None
        return result


def _capabilities_text(request: GpuRequest) -> str:
    return "[" + " ".join("[" + " ".join(c) + "]" for c in request.capabilities) + "]"


def gpu_device_names(request: GpuRequest, registry: CdiRegistry) -> list[str]:
    """Map ``--gpus`` to CDI device names of kind nvidia.com/gpu.

    ``all`` selects the spec's ``all`` device when it has one (nvidia-ctk writes one),
    else every device; ``N`` the first N GPUs by index; ``device=`` the named ones.
    """
    available = registry.devices(GPU_KIND)
    if request.driver not in ("", "nvidia") or not available:
        raise FreightError(f'could not select device driver "{request.driver}" with '
                           f"capabilities: {_capabilities_text(request)}")
    if request.device_ids is not None:
        if request.count:
            raise InvalidArgument("cannot set both Count and DeviceIDs on device request")
        return [f"{GPU_KIND}={device}" for device in request.device_ids]
    if request.count < 0:
        chosen = ["all"] if "all" in available else available
    else:
        gpus = [d for d in available if d != "all"]
        indexed = sorted((d for d in gpus if d.isdigit()), key=int)
        ordered = indexed or gpus
        if request.count > len(ordered):
            raise FreightError(f"could not select {request.count} GPUs: "
                               f"only {len(ordered)} available")
        chosen = ordered[:request.count]
    return [f"{GPU_KIND}={device}" for device in chosen]


# ---------------------------------------------------------------- OCI hooks


def oci_state(container_id: str, status: str, bundle: str, pid: int | None = None) -> dict[str, Any]:
    """The OCI runtime state a hook reads on its stdin."""
    state: dict[str, Any] = {"ociVersion": "1.0.2", "id": container_id, "status": status}
    if pid:
        state["pid"] = pid
    state["bundle"] = bundle
    return state


def run_hooks(stage: str, hooks: list[Hook] | None, state: dict[str, Any],
              fatal: bool = True) -> None:
    """Run ``hooks`` in order; the first failure raises (``fatal``) or is printed as a warning."""
    for number, hook in enumerate(hooks or ()):
        try:
            _run_hook(hook, json.dumps(state, separators=(",", ":")).encode())
        except FreightError as exc:
            message = f"error running {stage} hook #{number}: {exc}"
            if fatal:
                raise FreightError(message) from None
            os.write(2, f"WARNING: {message}\n".encode())


def _run_hook(hook: Hook, state: bytes) -> None:
    """Spawn one hook with ``state`` on stdin, its output captured; FreightError if it fails.

    No thread and no fork of the caller (which may be a container's PID 1 after its pivot):
    ``posix_spawn``, then ``select`` on the output pipe against the hook's timeout.
    """
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    actions = [(os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
               (os.POSIX_SPAWN_DUP2, out_w, 2)]
    try:
        pid = os.posix_spawn(hook.path, hook.args or [hook.path], _hook_env(hook),
                             file_actions=actions, setsigdef=(signal.SIGPIPE,))
    except OSError as exc:
        os.close(in_w)
        os.close(out_r)
        raise FreightError(f"{hook.path}: {exc.strerror or exc}") from None
    finally:
        os.close(in_r)
        os.close(out_w)
    try:
        os.write(in_w, state)  # a few hundred bytes: the pipe buffer holds them
    except BrokenPipeError:
        pass  # a hook need not read its stdin
    finally:
        os.close(in_w)
    output = _read_until_exit(hook, pid, out_r)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code != 0:
        status = f"signal {-code}" if code < 0 else f"exit status {code}"
        text = output.decode(errors="replace").strip()
        raise FreightError(f"{hook.path}: {status}" + (f", output: {text}" if text else ""))


def _read_until_exit(hook: Hook, pid: int, out_r: int) -> bytes:
    """The hook's output (its last 4 KiB) up to end-of-file; kill it past its timeout."""
    import select  # a container's PID 1 imported it before its pivot (child._preload)
    import time

    deadline = None if hook.timeout is None else time.monotonic() + hook.timeout
    output = b""
    try:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([out_r], [], [], wait)[0]:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise FreightError(f"{hook.path}: timed out after {hook.timeout}s")
            chunk = os.read(out_r, 65536)
            if not chunk:
                return output
            output = (output + chunk)[-4096:]
    finally:
        os.close(out_r)


def _hook_env(hook: Hook) -> dict[str, str]:
    """The hook's ``env`` entries (OCI: exactly those, nothing inherited)."""
    return dict(entry.partition("=")[::2] for entry in hook.env)
