"""A step's new layer: a filled directory turned into a blob and a snapshot.

``commit_dir`` writes the directory (a COPY/ADD/WORKDIR layer directory, or a
RUN container's overlay upper dir) as a layer tar into the blob store (kept
encoded), adopts the directory itself as the layer's snapshot (never unpacked
again) and records the step's cache entry. Imported when a step runs: a fully
cached build does without it and ``shutil`` (see tests/cli/test_startup_imports.py).
"""

from __future__ import annotations

import os
import shutil
import time

from freight.builder import cache
from freight.builder.state import BuildSession, State
from freight.image.canonical import rfc3339
from freight.image.digest import chain_ids
from freight.store.layerwrite import write_layer

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


def _created(session: BuildSession, state: State, ran: bool) -> str:
    if session.epoch is not None:
        return rfc3339(session.epoch)
    return rfc3339(time.time()) if ran else state.created


def commit_dir(session: BuildSession, state: State, key: str, path: Path, overlay: bool, ran: bool,
               empty: bool) -> dict[str, Any]:
    """Turn a filled layer dir into a blob and a snapshot; record the cache entry. ``overlay``:
    the dir is an overlay upper dir; ``ran``: a command ran (its time is the layer's)."""
    store = session.store
    created = _created(session, state, ran)
    if empty:
        remove(path)
        result: dict[str, Any] = {"empty": True, "created": created}
        cache.record(store, key, result)
        return result
    if overlay:
        store.snapshots.settle_upper(path, chain_ids([layer.diff_id for layer in state.layers]))
    with store.blobs.writer(encode=True) as w:  # the snapshot holds it unpacked: keep it small
        # write_layer only writes to its output, which a BlobWriter does (its annotation asks for a BinaryIO)
        # settle: the directory becomes the snapshot, so it must hold the times the tar holds
        write_layer(path, w, overlay_upper=overlay, source_date_epoch=session.epoch, settle=True)
        blob = w.commit()
    size = store.blobs.size(blob)
    chains = chain_ids([layer.diff_id for layer in state.layers] + [blob])
    parent = chains[-2] if len(chains) > 1 else None
    with session.lock:
        store.snapshots.commit(chains[-1], path, parent, blob, _dir_size(os.fspath(path)))
    result = {"diff_id": blob, "blob": blob, "size": size, "created": created,
              "blobs": [blob], "snapshots": [chains[-1]]}
    cache.record(store, key, result)
    return result


def remove(path: str | Path) -> None:
    """Remove a step's work directory, whatever is left in it."""
    shutil.rmtree(path, ignore_errors=True)


def _dir_size(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(root, name)).st_size
    return total
