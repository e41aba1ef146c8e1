"""Host devices for containers: ``--device``.

``--device /dev/x[:/dev/y][:rwm]`` gives the container a node with the host
device's type and numbers (``host_devices``; a directory gives every node below
it), plus the device cgroup rule that lets it use them. ``--device`` also takes
a CDI device name (``vendor.com/class=name``), which ``cdi`` resolves; the
grammar of those names is here, since ``--device`` must tell them from paths.
"""

from __future__ import annotations

import json
import os
import re
import stat

from freight.errors import FreightError, InvalidArgument
from freight.record import Record
from freight.runtime.limits import DeviceRule
from freight.runtime.spec import DeviceNode

# CDI's names: ``vendor.com/class`` is a kind, ``vendor.com/class=name`` a qualified device name.
CDI_VENDOR = r"[A-Za-z](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
CDI_CLASS = r"[A-Za-z](?:[A-Za-z0-9_-]*[A-Za-z0-9])?"
CDI_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.:-]*[A-Za-z0-9])?"


class DeviceRequest(Record):
    """One ``--device``: a host path (or a CDI device name) and where it goes."""

    path_on_host: str = ""
    path_in_container: str = ""
    permissions: str = "rwm"
    cdi_name: str = ""


def _valid_mode(mode: str) -> bool:
    """Docker's ValidDeviceMode: a non-empty combination of r, w, m, each once."""
    return bool(mode) and set(mode) <= set("rwm") and len(set(mode)) == len(mode)


def is_cdi_name(value: str) -> bool:
    """Whether ``value`` is a fully qualified CDI device name (``vendor/class=name``)."""
    return re.match(rf"^{CDI_VENDOR}/{CDI_CLASS}={CDI_NAME}$", value) is not None


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


def node_from_path(path: str, container_path: str) -> DeviceNode | None:
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


def rule_for(node: DeviceNode, permissions: str) -> DeviceRule:
    """The device cgroup rule that lets the container use ``node``."""
    return DeviceRule(node.kind, node.major, node.minor, permissions or "rwm")


def host_devices(request: DeviceRequest) -> tuple[list[DeviceNode], list[DeviceRule]]:
    """Resolve a ``--device`` path: one node, or every node below a directory."""
    host = request.path_on_host
    resolved = host
    try:
        resolved = os.path.realpath(host) if os.path.islink(host) else host
        node = node_from_path(resolved, request.path_in_container)
        reason = "not a device node"
    except OSError as exc:
        node, reason = None, (exc.strerror or str(exc)).lower()
    if node is not None:
        return [node], [rule_for(node, request.permissions)]
    nodes = _nodes_below(resolved, request.path_in_container) if os.path.isdir(resolved) else []
    if not nodes:
        raise FreightError("error gathering device information while adding custom device "
                           f"{json.dumps(host)}: {reason}")
    return nodes, [rule_for(n, request.permissions) for n in nodes]


def _nodes_below(directory: str, container_dir: str) -> list[DeviceNode]:
    nodes = []
    for parent, _, files in os.walk(directory):
        for name in sorted(files):
            path = os.path.join(parent, name)
            target = container_dir + path[len(directory):]
            try:
                node = node_from_path(path, target)
            except OSError:
                continue
            if node is not None:
                nodes.append(node)
    return nodes
