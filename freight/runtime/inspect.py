"""``docker inspect`` JSON for containers and volumes."""

from __future__ import annotations

from freight.errors import NotFound
from freight.runtime import containers
from freight.runtime.bundle import CONFIG, bundle_dir
from freight.runtime.records import PRIVATE_STATE, Container
from freight.runtime.volumes import get_volume

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.store import Store

_PRIVATE_MOUNT = ("NoCopy", "Anonymous", "TmpfsOptions")  # freight's own keys (``mounts``)


def container_inspect(store: Store, c: Container) -> dict[str, Any]:
    """The container as ``docker container inspect`` shows it."""
    record = c.record
    state = {k: v for k, v in c.state.items() if k not in PRIVATE_STATE}
    directory = c.directory(store)
    lowers = ""
    try:
        image = store.resolve_image(c.image_id)
        lowers = ":".join(str(p) for p in reversed(store.layer_dirs(image)))
    except NotFound:
        pass
    out: dict[str, Any] = {}
    for key in ("Id", "Created", "Path", "Args"):
        out[key] = record[key]
    out["State"] = state
    for key in ("Image", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath", "Name",
                "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel",
                "AppArmorProfile", "ExecIDs", "HostConfig"):
        out[key] = record.get(key)
    out["GraphDriver"] = {"Data": {"LowerDir": lowers, "MergedDir": f"{directory}/merged",
                                   "UpperDir": f"{directory}/upper", "WorkDir": f"{directory}/work"},
                          "Name": "overlay"}
    out["OCIConfigPath"] = f"{bundle_dir(directory)}/{CONFIG}"  # Podman's name: the bundle's config.json
    out["Mounts"] = [{k: v for k, v in m.items() if k not in _PRIVATE_MOUNT} for m in record["Mounts"]]
    out["Config"] = record["Config"]
    out["NetworkSettings"] = _network_settings(record.get("NetworkSettings") or {}, state)
    return out


_NETWORK_KEYS = {"Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": {}, "HairpinMode": False,
                 "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": None,
                 "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
                 "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": ""}


def _network_settings(recorded: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """NetworkSettings in Docker's shape: the default bridge's address at the top level, every
    network's endpoint under Networks (``netsandbox`` records them at start)."""
    out = {key: recorded.get(key) or empty for key, empty in _NETWORK_KEYS.items()}
    if state.get("Running") and out["SandboxID"]:
        out["SandboxKey"] = f"/proc/{state.get('Pid')}/ns/net"
    out["Networks"] = recorded.get("Networks") or {}
    return out


def find_and_inspect(store: Store, name: str, kind: str | None = None) -> dict[str, Any] | None:
    """A container (or, with ``kind`` None or "volume", a volume) by name or ID; None if absent."""
    if kind in (None, "container"):
        try:
            return container_inspect(store, containers.get(store, name))
        except NotFound:
            pass
    if kind in (None, "volume"):
        try:
            return get_volume(store, name)
        except NotFound:
            return None
    return None
