"""``docker update``: new resource limits for a container, applied to its cgroup at once
when it runs, and kept in its HostConfig for its next start."""

from __future__ import annotations

from freight.errors import FreightError
from freight.runtime import cgroups
from freight.runtime.containers import get
from freight.runtime.events import container_event
from freight.runtime.hostconfig import make_resources
from freight.runtime.records import Container, save_state

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.store import Store

UPDATABLE = ("Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuPeriod", "CpuQuota", "CpuShares",
             "CpusetCpus", "CpusetMems", "PidsLimit", "RestartPolicy")


def update(store: Store, ref: str, changes: dict[str, Any]) -> Container:
    """Merge ``changes`` (HostConfig keys of ``UPDATABLE``) into the container's HostConfig."""
    c = get(store, ref)
    host = {**c.host_config, **changes}
    if changes.get("Memory") and not changes.get("MemorySwap") and (host.get("MemorySwap") or 0) > 0 \
            and host["MemorySwap"] < changes["Memory"]:
        raise FreightError("Memory limit should be smaller than already set memoryswap limit, "
                           "update the memoryswap at the same time")
    if "NanoCpus" in changes:
        host.pop("CpuPeriod", None)
        host.pop("CpuQuota", None)
    resources = make_resources(host)
    resources.validate()
    resources.devices = None  # the device rules stay as the start wrote them
    if c.running:
        cgroup = cgroups.load(c.id)
        if cgroup is None:
            raise FreightError(f"Cannot update container {c.id}: it has no cgroup")
        cgroup.apply(resources)
    c.record["HostConfig"] = host
    save_state(store, c, record=True)
    container_event(store, c, "update")
    return c
