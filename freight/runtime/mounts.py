"""Mounts of a new container: ``-v``, ``--mount``, ``--tmpfs`` and the image's ``VOLUME``s.

``resolve_mounts`` turns a create request's Binds, Mounts and the image's Volumes
into the inspect-shaped ``Mounts`` list stored with the container; a volume named
there gets its row when the container does (``create.insert``). Entries carry
private keys (``NoCopy``, ``Anonymous``, ``TmpfsOptions``) that inspect leaves out.
A volume that is empty when a container mounts it gets the image's content at that
path first (Docker's copy-up), unless the mount says ``nocopy``.
"""

from __future__ import annotations

import os

from freight.errors import InvalidArgument
from freight.runtime.limits import parse_memory
from freight.runtime.volumes import check_name, volume_path

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

_BIND_MODES = {"ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared", "slave",
               "rslave", "consistent", "cached", "delegated"}


def _bind_entry(source: str, target: str, readonly: bool, mode: str = "") -> dict[str, Any]:
    return {"Type": "bind", "Source": source, "Destination": target, "Mode": mode,
            "RW": not readonly, "Propagation": "rprivate"}


def _volume_entry(root: str, name: str, target: str, readonly: bool, mode: str = "z",
                  nocopy: bool = False) -> dict[str, Any]:
    return {"Type": "volume", "Name": name, "Source": volume_path(root, name), "Destination": target,
            "Driver": "local", "Mode": mode, "RW": not readonly, "Propagation": "", "NoCopy": nocopy}


def _check_target(target: str, kind: str) -> None:
    if not target.startswith("/"):
        raise InvalidArgument(f'invalid mount config for type "{kind}": invalid mount path: '
                              f"'{target}' mount path must be absolute")


def parse_bind(root: str, text: str) -> dict[str, Any]:
    """One ``-v`` value: ``/host:/ctr[:opts]``, ``name:/ctr[:opts]`` or ``/ctr`` (anonymous)."""
    parts = text.split(":")
    if len(parts) == 1:
        _check_target(parts[0], "volume")
        entry = _volume_entry(root, os.urandom(32).hex(), parts[0], False, "")
        entry["Anonymous"] = True
        return entry
    if len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid spec: {text}: too many colons" if len(parts) > 3
                              else f"invalid spec: {text}")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    opts = set(mode.split(",")) - {""}
    if opts - _BIND_MODES:
        raise InvalidArgument(f"invalid mode: {mode}")
    readonly = "ro" in opts
    if source.startswith("/"):
        _check_target(target, "bind")
        if not os.path.lexists(source):
            os.makedirs(source)  # -v creates a missing host dir, as Docker does
        return _bind_entry(os.path.normpath(source), target, readonly, mode)
    check_name(source)
    _check_target(target, "volume")
    return _volume_entry(root, source, target, readonly, mode or "z", "nocopy" in opts)


def parse_mount_flag(text: str) -> dict[str, Any]:
    """``--mount type=...,source=...,target=...`` -> Docker API's HostConfig.Mounts entry."""
    mount: dict[str, Any] = {"Type": "volume"}
    for field in text.split(","):
        key, sep, value = field.partition("=")
        key = key.strip().lower()
        if key in ("readonly", "ro"):
            if value not in ("", "1", "true", "0", "false"):
                raise InvalidArgument(f'invalid value for readonly: {value}')
            mount["ReadOnly"] = value in ("", "1", "true")
        elif not sep:
            raise InvalidArgument(f'invalid field \'{field}\' must be a key=value pair')
        elif key == "type":
            if value not in ("bind", "volume", "tmpfs"):
                raise InvalidArgument(f'invalid argument "{text}" for "--mount" flag: '
                                      f"unsupported mount type: {value}")
            mount["Type"] = value
        elif key in ("source", "src"):
            mount["Source"] = value
        elif key in ("target", "destination", "dst"):
            mount["Target"] = value
        elif key == "volume-nocopy":
            mount.setdefault("VolumeOptions", {})["NoCopy"] = value in ("", "1", "true")
        elif key == "tmpfs-size":
            mount.setdefault("TmpfsOptions", {})["SizeBytes"] = parse_memory(value, "--mount")
        elif key == "tmpfs-mode":
            mount.setdefault("TmpfsOptions", {})["Mode"] = int(value, 8)
        elif key in ("bind-propagation", "consistency", "volume-driver", "bind-create-host-path"):
            continue
        else:
            raise InvalidArgument(f"unexpected key '{key}' in '{text}'")
    if not mount.get("Target"):
        raise InvalidArgument(f'invalid argument "{text}" for "--mount" flag: target is required')
    return mount


def _api_mount(root: str, m: dict[str, Any]) -> dict[str, Any]:
    kind, target, source = m.get("Type", "volume"), m.get("Target", ""), m.get("Source", "")
    readonly = bool(m.get("ReadOnly"))
    _check_target(target, kind)
    if kind == "bind":
        if not source.startswith("/") or not os.path.exists(source):
            raise InvalidArgument(f'invalid mount config for type "bind": '
                                  f"bind source path does not exist: {source}")
        entry = _bind_entry(os.path.normpath(source), target, readonly)
        entry["Mode"] = ""
        return entry
    if kind == "tmpfs":
        if source:
            raise InvalidArgument('invalid mount config for type "tmpfs": source must not be specified')
        opts = m.get("TmpfsOptions") or {}
        data = [f"size={opts['SizeBytes']}"] if opts.get("SizeBytes") else []
        if opts.get("Mode"):
            data.append(f"mode={opts['Mode']:o}")
        return {"Type": "tmpfs", "Source": "", "Destination": target, "Mode": "", "RW": not readonly,
                "Propagation": "", "TmpfsOptions": ",".join(data)}
    name = source or os.urandom(32).hex()
    if source:
        check_name(source)
    entry = _volume_entry(root, name, target, readonly, "", bool((m.get("VolumeOptions") or {}).get("NoCopy")))
    entry["Anonymous"] = not source
    return entry


def resolve_mounts(root: str, config: dict[str, Any], host: dict[str, Any]) -> list[dict[str, Any]]:
    """Every mount of a new container, in inspect's shape; image volumes not mounted over
    become anonymous volumes. A target given twice is an error, as in Docker."""
    mounts = [parse_bind(root, b) for b in host.get("Binds") or []]
    mounts += [_api_mount(root, m) for m in host.get("Mounts") or []]
    seen: set[str] = set()
    for m in mounts:
        target = os.path.normpath(m["Destination"])
        if target in seen:
            raise InvalidArgument(f"Duplicate mount point: {target}")
        seen.add(target)
    for target in host.get("Tmpfs") or {}:
        _check_target(target, "tmpfs")
    tmpfs_targets = {os.path.normpath(t) for t in host.get("Tmpfs") or {}}
    for target in config.get("Volumes") or {}:
        if os.path.normpath(target) not in seen | tmpfs_targets:
            entry = _volume_entry(root, os.urandom(32).hex(), target, False, "")
            entry["Anonymous"] = True
            mounts.append(entry)
    return mounts


def anonymous_volumes(mounts: list[dict[str, Any]]) -> list[str]:
    """Volumes ``rm -v`` and ``--rm`` remove: anonymous ones (``-v /path`` or image VOLUMEs)."""
    return [m["Name"] for m in mounts if m["Type"] == "volume" and m.get("Anonymous")]
