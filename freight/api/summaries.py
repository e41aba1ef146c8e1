"""The list shapes of Docker's API: a container in ``GET /containers/json``, an image in
``GET /images/json`` (both also in ``GET /system/df``)."""

from __future__ import annotations

from freight.runtime.containers import status_text
from freight.runtime.times import record_time
from freight.store.inspect import familiar_digests, familiar_tags

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.runtime.records import Container
    from freight.store.images import Image


def unix_time(stamp: str) -> int:
    """Seconds since the epoch of an RFC 3339 time (0 for one that is not)."""
    try:
        return int(record_time(stamp))
    except ValueError:
        return 0


def _ports(ports: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, bindings in (ports or {}).items():
        port, _, proto = key.partition("/")
        if not bindings:
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
        for b in bindings or []:
            out.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": int(port),
                        "PublicPort": int(b.get("HostPort") or 0), "Type": proto or "tcp"})
    return out


def container(c: Container) -> dict[str, Any]:
    mode = c.host_config.get("NetworkMode") or "default"
    return {
        "Id": c.id, "Names": ["/" + c.name], "Image": c.config.get("Image", ""), "ImageID": c.image_id,
        "Command": " ".join([c.record["Path"], *c.record["Args"]]),
        "Created": unix_time(c.record["Created"]),
        "Ports": _ports(c.record.get("NetworkSettings", {}).get("Ports") or {}),
        "Labels": c.config.get("Labels") or {}, "State": c.state.get("Status", "created"),
        "Status": status_text(c.state), "HostConfig": {"NetworkMode": mode},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [{k: v for k, v in m.items() if k in ("Type", "Name", "Source", "Destination", "Driver",
                                                         "Mode", "RW", "Propagation")}
                   for m in c.record.get("Mounts") or []],
    }


def image(i: Image) -> dict[str, Any]:
    labels = (i.config.get("config") or {}).get("Labels") or {}
    return {"Id": i.id, "ParentId": "", "RepoTags": familiar_tags(i), "RepoDigests": familiar_digests(i),
            "Created": unix_time(i.created), "Size": i.size,
            "SharedSize": -1, "VirtualSize": i.size, "Labels": labels, "Containers": -1}
