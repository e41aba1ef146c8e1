"""``docker import``: make a one-layer image from a root filesystem.

The source (a tar, compressed or not, or a directory) is read once: its
uncompressed bytes go into the blob store, encoded (``freight.store.encoded``:
the layer is not kept twice in full), while the same stream is applied to a
fresh snapshot directory, so a hostile or broken tar is refused before
anything becomes visible. The image's ``created`` time is the newest mtime in the
root filesystem (or SOURCE_DATE_EPOCH), never the wall clock, so importing
the same root filesystem twice gives the same image ID.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from freight.image.canonical import image_config, layer_descriptor, rfc3339, source_date_epoch
from freight.store import events
from freight.store.blobs import CHUNK, BlobWriter
from freight.store.compression import open_layer
from freight.store.images import Image
from freight.store.layerapply import apply_layer
from freight.store.layerwrite import write_layer
from freight.store.store import Store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, BinaryIO

    from freight.store.streams import Reader


class _Tee:
    """A read stream that copies everything read into a blob writer."""

    def __init__(self, inner: Reader, sink: BlobWriter) -> None:
        self._inner = inner
        self._sink = sink

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._sink.write(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def import_rootfs(store: Store, source: Path | BinaryIO, tags: Sequence[str] = (),
                  config: dict[str, Any] | None = None, comment: str = "Imported from -") -> Image:
    """Create an image from a rootfs tar stream or directory."""
    with store.writing(), store.blobs.writer(encode=True) as blob:
        snapshot = Path(tempfile.mkdtemp(prefix="unpack-", dir=store.scratch_dir))
        try:
            size = _ingest(source, blob, snapshot)
            diff_id = blob.commit()
            created = _created(snapshot)
            store.snapshots.commit(diff_id, snapshot, None, diff_id, size)
        finally:
            if snapshot.exists():
                shutil.rmtree(snapshot)
        history = [{"created": created, "created_by": "", "comment": comment}]
        cfg = image_config([diff_id], history, created, config)
        image = store.write_image(cfg, [layer_descriptor(diff_id, blob.size)], list(tags))
    events.emit(store.root_path, "image", "import", image.id, {"name": image.id})
    return image


def _ingest(source: Path | BinaryIO, blob: BlobWriter, snapshot: Path) -> int:
    if isinstance(source, Path) and source.is_dir():
        tmp = tempfile.TemporaryFile(dir=blob.tmp_dir)
        with tmp:
            write_layer(source, tmp)
            tmp.seek(0)
            return _apply(tmp, blob, snapshot)
    if isinstance(source, Path):
        with source.open("rb") as raw:
            return _apply(raw, blob, snapshot)
    return _apply(source, blob, snapshot)


def _apply(raw: BinaryIO, blob: BlobWriter, snapshot: Path) -> int:
    with open_layer(raw) as tar:
        tee = _Tee(tar, blob)
        size = apply_layer(tee, snapshot, overlay=True)
        tee.drain()
    return size


def _created(snapshot: Path) -> str:
    epoch = source_date_epoch()
    if epoch is not None:
        return rfc3339(epoch)
    newest = 0
    for dirpath, dirnames, filenames in os.walk(snapshot):
        for name in dirnames + filenames:
            newest = max(newest, int(os.lstat(os.path.join(dirpath, name)).st_mtime))
    return rfc3339(newest)
