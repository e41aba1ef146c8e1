"""The Container Device Interface (CDI): devices vendors describe in spec files.

Spec files (JSON or YAML) are read from /etc/cdi and /var/run/cdi (the later
directory wins on conflicts), or from ``FREIGHT_CDI_SPEC_DIRS`` (colon separated,
like dockerd's ``cdi-spec-dirs``; set but empty, it disables CDI). Each spec
has a ``kind`` (``nvidia.com/gpu``), named devices, and *container edits*
(device nodes, mounts, environment, OCI hooks) for each device and for the spec
as a whole. The specs are read at each start, in the environment of the process
that starts the container (the CLI; a detached container's monitor inherits it).

``CdiRegistry.edits(names)`` gives the ``ContainerEdits`` of the named devices
(``--device vendor.com/class=name``, or ``gpus.gpu_device_names`` for
``--gpus``); ``hostconfig.device_edits`` adds those of plain ``--device`` paths.
The starter puts the edits' device nodes and mounts in the container spec, its
device cgroup rules after Docker's default ones, its environment over the
image's, and runs its hooks (``hooks``).
"""

from __future__ import annotations

import json
import os
import re

from freight.errors import FreightError
from freight.record import Record, field
from freight.runtime import syscalls
from freight.runtime.devices import CDI_CLASS, CDI_NAME, CDI_VENDOR, node_from_path, rule_for
from freight.runtime.hooks import STAGES, Hook
from freight.runtime.limits import DeviceRule
from freight.runtime.spec import DeviceNode, Mount

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

CDI_DIRS = ("/etc/cdi", "/var/run/cdi")


class ContainerEdits(Record, frozen=False):
    """Everything the selected devices add to the container, in application order."""

    env: list[str] = field(default_factory=list)
    devices: list[DeviceNode] = field(default_factory=list)
    rules: list[DeviceRule] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    hooks: dict[str, list[Hook]] = field(default_factory=dict)
    additional_gids: list[int] = field(default_factory=list)

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


def _as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CdiError(f"{what} must be a list")
    return value


def _device_node_edit(raw: dict[str, Any]) -> tuple[DeviceNode, DeviceRule | None]:
    """A CDI deviceNode, with type and numbers filled in from the host as CDI does."""
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise CdiError(f"invalid device node path {path!r}")
    host_path = raw.get("hostPath") or path
    kind, major, minor = raw.get("type", ""), raw.get("major", 0), raw.get("minor", 0)
    mode, uid, gid = raw.get("fileMode"), raw.get("uid", 0), raw.get("gid", 0)
    if not kind or (not major and kind != "p"):
        try:
            host = node_from_path(host_path, path)
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
    rule = rule_for(node, raw.get("permissions") or "rwm") if kind in ("b", "c") else None
    return node, rule


_MOUNT_FLAGS = {"nosuid": syscalls.MS_NOSUID, "nodev": syscalls.MS_NODEV,
                "noexec": syscalls.MS_NOEXEC}


def _mount_edit(raw: dict[str, Any]) -> Mount:
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


def _hook_edit(raw: dict[str, Any]) -> tuple[str, Hook]:
    stage, path = raw.get("hookName"), raw.get("path")
    if stage not in STAGES:
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


def _convert_edits(raw: dict[str, Any]) -> ContainerEdits:
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


class _Spec(Record):
    """One spec file, as read."""

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
    if not isinstance(kind, str) or not re.match(rf"^{CDI_VENDOR}/{CDI_CLASS}$", kind):
        raise CdiError(f"invalid kind {kind!r}")
    devices = {}
    for device in _as_list(raw.get("devices"), "devices"):
        name = device.get("name") if isinstance(device, dict) else None
        if not isinstance(name, str) or not re.match(rf"^{CDI_NAME}$", name):
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
