"""``docker commit`` as the CLI and the API ask for it: the container's image config, what
a client sent over it, and ``--change`` instructions applied (as the builder applies them)."""

from __future__ import annotations

from freight.builder.changes import apply_changes
from freight.runtime.commit import commit, container_image_config
from freight.runtime.containers import get

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.store import Store
    from freight.store.images import Image


def commit_container(store: Store, ref: str, tags: list[str], changes: list[str] | None = None,
                     config: dict[str, Any] | None = None, comment: str = "", author: str = "",
                     pause: bool = True) -> Image:
    """A new image of container ``ref``'s changes; its config is the container's, with the
    keys ``config`` sets (the API's body) replaced and ``changes`` applied."""
    c = get(store, ref)
    image_config = {**container_image_config(c.config), **container_image_config(config or {})}
    return commit(store, c.id, apply_changes(image_config, changes or []), tags, comment, author, pause)
