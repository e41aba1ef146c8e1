"""Bringing a database written by an older freight up to the current schema.

Version 1 (before the reference table) had the store create every table:
the runtime's ``containers`` and ``volumes`` and the builder's ``build_cache``
too, and the store found what they hold by reading them. Version 2 has them
say so in ``refs`` (``freight.store.refs``). The migration reads version 1's
tables as version 1 wrote them, once, to fill ``refs``: a container holds its
image, a build cache entry the blobs and snapshots its JSON value lists. It is
the only code in the store that knows those tables, and it knows them as they
were, not as their owners keep them now.
"""

from __future__ import annotations

import sqlite3

_FROM_V1 = """
INSERT OR IGNORE INTO refs (owner_kind, owner_id, kind, key)
    SELECT 'container', id, 'image', image_id FROM containers;
INSERT OR IGNORE INTO refs (owner_kind, owner_id, kind, key)
    SELECT 'build-cache', build_cache.key, 'blob', held.value
    FROM build_cache, json_each(build_cache.value, '$.blobs') AS held;
INSERT OR IGNORE INTO refs (owner_kind, owner_id, kind, key)
    SELECT 'build-cache', build_cache.key, 'snapshot', held.value
    FROM build_cache, json_each(build_cache.value, '$.snapshots') AS held
"""


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Fill the tables new since ``version`` (0: a new database) from the old ones; called in the
    transaction that made the current schema's tables."""
    if version == 1:
        for statement in _FROM_V1.split(";"):
            db.execute(statement)
