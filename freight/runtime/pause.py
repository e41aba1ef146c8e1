"""``docker pause``/``unpause``: the container's cgroup frozen and thawed (the v1 freezer
controller, or cgroup v2's ``cgroup.freeze``; ``freight.runtime.cgroups``)."""

from __future__ import annotations

from freight.errors import Conflict, FreightError
from freight.runtime import cgroups
from freight.runtime.containers import get, get_running
from freight.runtime.events import container_event
from freight.runtime.records import Container, save_state

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store import Store


def _cgroup(c: Container) -> cgroups.Cgroup:
    cgroup = cgroups.load(c.id)
    if cgroup is None:
        raise FreightError(f"Container {c.id} has no cgroup to freeze")
    return cgroup


def pause(store: Store, ref: str) -> Container:
    c = get_running(store, ref)
    if c.state.get("Paused"):
        raise Conflict(f"Container {c.id} is already paused")
    _cgroup(c).freeze()
    c.state.update(Paused=True, Status="paused")
    save_state(store, c)
    container_event(store, c, "pause")
    return c


def unpause(store: Store, ref: str) -> Container:
    c = get(store, ref)
    if not c.state.get("Paused"):
        raise Conflict(f"Container {c.id} is not paused")
    thaw(store, c)
    container_event(store, c, "unpause")
    return c


def thaw(store: Store, c: Container) -> None:
    """Let a paused container's processes run again (``stop`` and ``kill`` do so after
    signalling it, as Docker's do)."""
    cgroup = cgroups.load(c.id)
    if cgroup is not None:
        cgroup.thaw()
    c.state.update(Paused=False, Status="running" if c.running else c.state.get("Status", "exited"))
    save_state(store, c)
