"""A container's OCI bundle: its ``config.json`` on disk, written at every start.

The bundle is the folder ``bundle`` in the container's directory (mode 0700, the
config 0600: it names the container's mounts and environment). ``write`` resolves
the image's user and group names against the image's own files first, as the
runtime-spec wants numbers, and finishes the environment as Docker does (PATH,
HOSTNAME, TERM, HOME), so that what the file says is all any OCI runtime needs.
``load`` is the built-in runtime's input: it reads the file back (``ocispec``).
"""

from __future__ import annotations

import json
import os
import stat

from freight.runtime import caps as capabilities
from freight.runtime import ocispec, process
from freight.runtime.ocispec import RuntimeInput
from freight.runtime.spec import ContainerSpec

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.runtime.hooks import Hook
    from freight.runtime.limits import Resources

BUNDLE = "bundle"
CONFIG = "config.json"


def bundle_dir(container_dir: str) -> str:
    return f"{container_dir}/{BUNDLE}"


def write(spec: ContainerSpec, resources: Resources | None = None,
          hooks: dict[str, list[Hook]] | None = None, etc: str | None = None) -> str:
    """Resolve ``spec``'s identity (in place), write its ``config.json``; the bundle's path.

    ``etc`` is the directory whose passwd and group files name the users (default:
    the top-most of the container's upper dir and image layers that has each file).
    """
    resolve_identity(spec, etc)
    spec.caps = held_capabilities(spec.caps)
    return write_config(bundle_dir(spec.container_dir), ocispec.to_config(spec, resources, hooks))


def write_config(directory: str, config: dict[str, Any], name: str = CONFIG) -> str:
    """Write ``config`` as ``directory/name``, owner-only; ``directory``.

    Not atomically: every start writes it anew before anything reads it, so a file cut
    short by a crash is never used (and a rename costs a start milliseconds)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    fd = os.open(f"{directory}/{name}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with open(fd, "w") as f:
        f.write(json.dumps(config, separators=(",", ":")))  # dumps: C encoder; dump streams in Python
    return directory


def load(directory: str, container_id: str) -> RuntimeInput:
    """The built-in runtime's reading of the bundle at ``directory``."""
    with open(f"{directory}/{CONFIG}") as f:
        return ocispec.from_config(json.load(f), container_id)


def write_process(spec: ContainerSpec, pid: int) -> str:
    """``exec``: write ``spec``'s process as a process.json in the bundle; its path.
    Names resolve in the running container ``pid``'s own /etc."""
    resolve_identity(spec, f"/proc/{pid}/root/etc")
    path = process_file(spec, pid)
    write_config(os.path.dirname(path), ocispec.process_config(spec), os.path.basename(path))
    return path


def process_file(spec: ContainerSpec, pid: int) -> str:
    """Where this process's ``exec`` in the container ``pid`` keeps its process.json."""
    return f"{bundle_dir(spec.container_dir)}/process-{os.getpid()}-{pid}.json"


def load_process(path: str, spec: ContainerSpec) -> ContainerSpec:
    """The built-in runtime's reading of the process.json at ``path`` (then removed)
    for the container of ``spec``."""
    try:
        with open(path) as f:
            return ocispec.from_process(json.load(f), spec)
    finally:
        os.unlink(path)


def held_capabilities(caps: list[str]) -> list[str]:
    """Those of ``caps`` this process may pass on (its bounding set): a runtime asked for
    more fails (``--privileged`` where freight itself lacks some, as CAP_SYS_RESOURCE)."""
    bounding, _ = process.capability_masks()
    return [cap for cap in caps if capabilities.mask([cap]) & bounding]


def resolve_identity(spec: ContainerSpec, etc: str | None = None) -> None:
    """``spec.user`` as ``uid:gid``, ``group_add`` as every group id, ``env`` final."""
    if etc is None:
        passwd, group = _image_file(spec, "etc/passwd"), _image_file(spec, "etc/group")
    else:
        passwd, group = f"{etc}/passwd", f"{etc}/group"
    user = process.resolve_user(spec.user, spec.group_add, passwd, group)
    spec.user = f"{user.uid}:{user.gid}"
    spec.group_add = [str(g) for g in sorted(set(user.groups))]
    spec.env = process.final_env(spec, user.home)


def _layers(spec: ContainerSpec) -> list[str]:
    """The directories the root is made of, top-most first: an overlay's upper and lower
    dirs (relative ones from its ``cwd``), or a bind mount's source."""
    layers: list[str] = []
    for m in spec.rootfs:
        if m.type != "overlay":
            layers.append(m.source)
            continue
        options = dict(o.partition("=")[::2] for o in m.options)
        dirs = [options.get("upperdir", ""), *options.get("lowerdir", "").split(":")]
        layers += [os.path.join(m.cwd, d) for d in dirs if d]
    return layers


def _image_file(spec: ContainerSpec, relative: str) -> str:
    """The container's ``relative`` file as its overlay shows it: the upper dir's, else
    the top-most layer's; "" when there is none (or a layer deleted it)."""
    for layer in _layers(spec):
        path = f"{layer}/{relative}"
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:  # a whiteout: deleted above the image
            return ""
        return path
    return ""
