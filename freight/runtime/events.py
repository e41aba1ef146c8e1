"""Containers' events for the store's event log (``freight.store.events``), with the
attributes Docker gives them: the image, the name and the container's labels."""

from __future__ import annotations

from freight.runtime.records import Container
from freight.store import events

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store import Store


def container_event(store: Store, c: Container, action: str, **extra: str) -> None:
    """Log ``action`` of ``c`` (``extra``: more attributes, e.g. ``exitCode``, ``signal``)."""
    attributes = {**(c.config.get("Labels") or {}), "image": str(c.config.get("Image", "")),
                  "name": c.name, **extra}
    events.emit(store.root_path, "container", action, c.id, attributes)
