"""``docker tag`` and ``docker rmi`` on the store, with the events Docker logs for them
(``tag``; ``untag`` and ``delete``), so the CLI and the API service log the same ones."""

from __future__ import annotations

from freight.store import events

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.image.reference import Reference
    from freight.store.images import Image
    from freight.store.store import Store


def tag_image(store: Store, source: str, target: Reference) -> Image:
    """Tag image ``source`` (a name or ID) as ``target``."""
    image = store.resolve_image(source)
    store.images.tag(image.id, target)
    events.emit(store.root_path, "image", "tag", image.id, {"name": str(target)})
    return image


def remove_image(store: Store, name: str, force: bool = False) -> list[tuple[str, str]]:
    """``docker rmi`` of one image: its ("Untagged"|"Deleted", what) lines, each logged as an event."""
    removed = store.images.remove(name, force=force)
    log_removals(store, removed)
    return removed


def log_removals(store: Store, removed: list[tuple[str, str]]) -> None:
    """The ``untag`` and ``delete`` events of ``removed`` (``Images.remove``'s lines)."""
    for kind, what in removed:
        events.emit(store.root_path, "image", "untag" if kind == "Untagged" else "delete", what, {"name": what})
