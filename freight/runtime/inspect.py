"""``docker inspect`` JSON for containers and volumes."""

from __future__ import annotations

from freight.errors import NotFound
from freight.runtime import containers
from freight.runtime.records import HIDDEN_STATE, Container
from freight.runtime.restart import policy_of
from freight.runtime.volumes import get_volume

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.store import Store

_PRIVATE_MOUNT = ("NoCopy", "Anonymous", "TmpfsOptions")  # freight's own keys (``mounts``)


def container_inspect(store: Store, c: Container) -> dict[str, Any]:
    """The container as ``docker container inspect`` shows it."""
    record = c.record
    state = {k: v for k, v in c.state.items() if k not in HIDDEN_STATE}
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
    out["HostConfig"] = {**record["HostConfig"], "RestartPolicy": policy_of(record["HostConfig"])}
    out["GraphDriver"] = {"Data": {"LowerDir": lowers, "MergedDir": f"{directory}/merged",
                                   "UpperDir": f"{directory}/upper", "WorkDir": f"{directory}/work"},
                          "Name": "overlay"}
    out["Mounts"] = [{k: v for k, v in m.items() if k not in _PRIVATE_MOUNT} for m in record["Mounts"]]
    out["Config"] = record["Config"]
    out["NetworkSettings"] = {"Bridge": "", "SandboxID": "", "SandboxKey": "",
                              "Ports": record.get("NetworkSettings", {}).get("Ports") or {},
                              "Networks": {}}
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
