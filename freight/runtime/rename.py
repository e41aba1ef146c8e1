"""``docker rename``: a container's new name, in its row and its record in one transaction."""

from __future__ import annotations

import json
import sqlite3

from freight.errors import Conflict, InvalidArgument
from freight.runtime.containers import get
from freight.runtime.events import container_event
from freight.runtime.names import check_name
from freight.store.db import transaction

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.runtime.records import Container
    from freight.store import Store


def rename(store: Store, ref: str, new_name: str) -> Container:
    c = get(store, ref)
    new_name = check_name(new_name.lstrip("/"))
    old_name = c.name
    if new_name == old_name:
        raise InvalidArgument("Renaming a container with the same name as its current name")
    c.record["Name"] = "/" + new_name
    try:
        with transaction(store.db) as db:
            db.execute("UPDATE containers SET name = ?, config = ? WHERE id = ?",
                       (new_name, json.dumps(c.record), c.id))
    except sqlite3.IntegrityError:
        row = store.db.execute("SELECT id FROM containers WHERE name = ?", (new_name,)).fetchone()
        raise Conflict(f'Error when allocating new name: Conflict. The container name "/{new_name}" is already '
                       f'in use by container "{row[0] if row else ""}". You have to remove (or rename) that '
                       f"container to be able to reuse that name.") from None
    container_event(store, c, "rename", oldName="/" + old_name)
    return c
