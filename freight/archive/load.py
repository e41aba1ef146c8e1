"""``freight load``: images from a Docker archive or an OCI image layout into the store.

All or nothing: the archive is read in full and every blob and diff_id
checked (``Archive.verify``) before the first blob enters the store. Each
image is then a copy (``freight.image.copy``) from the archive
(``freight.archive.imagesource``) into the store: layers are unpacked from the
archive's own spooled copies, which were flushed to disk in the background
meanwhile, and moved into the blob store by rename; only when every image's
blobs and snapshots are in place are the images recorded. A truncated,
corrupt or hostile archive therefore leaves no image behind (at most
unreferenced blobs and snapshots, which GC removes). The store lock is held
shared from the first spooled byte to the last record, so GC never collects
what the load is about to reference.
"""

from __future__ import annotations

from pathlib import Path

from freight.archive.imagesource import ArchiveSource
from freight.archive.model import ArchiveImage
from freight.archive.reader import open_archive
from freight.archive.referrers import load_referrers
from freight.image.copy import Quiet, copy
from freight.record import Record, field
from freight.store import events
from freight.store.imagesource import StoreDestination
from freight.store.store import Store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import BinaryIO


class LoadedImage(Record):
    """An image a load added: its ID, manifest digest and names (familiar form, as Docker prints them)."""

    id: str
    manifest_digest: str
    tags: list[str] = field(default_factory=list)
    replaced: list[tuple[str, str]] = field(default_factory=list)  # (tag, ID it was taken from)


def load(store: Store, source: BinaryIO | Path | str) -> list[LoadedImage]:
    """Load every image of an archive (stream, tar path or OCI layout directory) into ``store``."""
    with store.writing(), open_archive(source, store.blobs.tmp_dir) as archive:
        for image in archive.images:
            for layer in image.layers:
                archive.source.sync_later(image.blobs[layer["digest"]])
        archive.verify()
        for image in archive.images:
            copy(ArchiveSource.of(archive.source, image), StoreDestination(store, record=False), Quiet())
        loaded = [_record(store, image) for image in archive.images]
        for image in archive.images:
            load_referrers(store, archive.source, image.manifest_digest)
    for done in loaded:
        events.emit(store.root_path, "image", "load", done.id, {"name": done.tags[0] if done.tags else done.id})
    return loaded


def _record(store: Store, image: ArchiveImage) -> LoadedImage:
    replaced = []
    for ref in image.names:
        previous = store.images.lookup(str(ref))
        if previous is not None and previous.id != image.config_digest:
            replaced.append((ref.familiar(), previous.id))
    added = store.add_image(image.manifest_digest, [str(ref) for ref in image.names])
    return LoadedImage(added.id, added.manifest_digest, [ref.familiar() for ref in image.names], replaced)
