"""The local store: blobs, metadata, snapshots, and the lock that keeps GC safe.

Every process that adds content holds the store lock shared (``writing()``)
from its first blob write until its metadata commit; garbage collection holds
it exclusively. So GC never removes a blob or snapshot that a concurrent
import is about to reference, and a crash at any point leaves only
unreferenced blobs and snapshots, which the next GC removes, and the killed
process's temporary directory, which the next writer removes.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from functools import cached_property, partial

from freight.errors import FreightError
from freight.image import reference
from freight.image.digest import chain_ids
from freight.image.mediatypes import MANIFESTS, OCI_MANIFEST
from freight.settings import default_root, make_root
from freight.store.db import connect
from freight.store.images import Image, ImageIndex, reject_index
from freight.store.refs import References

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path
    from typing import Any

    from freight.store.blobs import BlobStore
    from freight.store.gc import GCReport
    from freight.store.snapshots import SnapshotMount, Snapshots


class Store:
    """The store at ``root``. Opening it opens only the database: the blob store,
    the snapshots and ``root`` as a Path are made on first use, so that commands
    that only list (``images``, ``ps``) start fast. (So the modules of what only
    writers use are imported where it is first used: ``pathlib`` and the blob store
    cost a listing command about a tenth of its time, ``json`` a twentieth, the
    temporary space and the lock (``scratch``, ``fcntl``) a fiftieth.)"""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = os.fspath(root)
        make_root(self._root)
        self.db = connect(os.path.join(self._root, "metadata.db"))
        self.refs = References(self.db)
        self.images = ImageIndex(self.db, self._read_blob, self.refs)
        self._lock_path = os.path.join(self._root, "lock")

    @cached_property
    def root(self) -> Path:
        from pathlib import Path  # see the class docstring

        return Path(self._root)

    @property
    def root_path(self) -> str:
        """``root`` as a string, for paths on the listing commands' way (no pathlib)."""
        return self._root

    @cached_property
    def blobs(self) -> BlobStore:
        from freight.store.blobs import BlobStore

        return BlobStore(self.root)

    @cached_property
    def snapshots(self) -> Snapshots:
        from freight.store.snapshots import Snapshots

        return Snapshots(self.root, self.db)

    def _read_blob(self, digest: str) -> bytes:
        return self.blobs.read(digest)

    @property
    def scratch_dir(self) -> str:
        """This process's temporary directory in the store (``freight.store.scratch``)."""
        from freight.store import scratch  # see the class docstring

        return scratch.directory(self._root)

    # -- locking --------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store lock shared while adding content (see module docstring); first
        remove what killed writers left in ``tmp/`` (``freight.store.scratch``)."""
        import fcntl  # see the class docstring

        from freight.store import scratch

        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            scratch.sweep(self._root)
            yield
        finally:
            os.close(fd)

    # -- images ---------------------------------------------------------

    def resolve_image(self, text: str) -> Image:
        return self.images.resolve(text)

    def add_image(self, manifest_digest: str, tags: Sequence[str] = (), repo_digest: str | None = None,
                  *, unpack: bool = True) -> Image:
        """Record an image whose manifest, config and layers are already in the blob store
        (a config Docker could not read is refused with Docker's message)."""
        import json  # see the class docstring

        from freight.image.schema import read_config

        manifest = json.loads(self.blobs.read(manifest_digest))
        reject_index(manifest)
        if manifest.get("mediaType", OCI_MANIFEST) not in MANIFESTS:
            raise FreightError(f"unsupported manifest media type {manifest.get('mediaType')}")
        config_digest = manifest["config"]["digest"]
        config = read_config(self.blobs.read(config_digest))
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        layers = manifest.get("layers", [])
        if len(diff_ids) != len(layers):
            raise FreightError(f"image {config_digest}: {len(layers)} layers but {len(diff_ids)} diff_ids")
        for layer in layers:
            if not self.blobs.has(layer["digest"]):
                raise FreightError(f"layer {layer['digest']} is missing from the store")
        if unpack:
            self.unpack(diff_ids, [layer["digest"] for layer in layers])
        size = sum(self.snapshots.size(c) for c in chain_ids(diff_ids))
        refs = [reference.parse(t) for t in tags]
        self.images.insert(config_digest, manifest_digest, config.get("created", ""), size, refs,
                           repo_digest)
        return self.images.resolve(config_digest)

    def write_image(self, config: dict[str, Any], layers: list[dict[str, Any]], tags: Sequence[str] = (),
                    annotations: dict[str, str] | None = None) -> Image:
        """Store a new image from its config and the descriptors of layers already in the store."""
        from freight.image.canonical import canonical_json, image_manifest  # json: see the class docstring

        config_bytes = canonical_json(config)
        config_digest = self.blobs.put(config_bytes)
        manifest = image_manifest(config_digest, len(config_bytes), layers, annotations)
        return self.add_image(self.blobs.put(canonical_json(manifest)), tags)

    def unpack(self, diff_ids: list[str], blob_digests: list[str]) -> None:
        parent = None
        for chain, diff_id, blob in zip(chain_ids(diff_ids), diff_ids, blob_digests):
            self.snapshots.unpack(chain, parent, diff_id, partial(self.blobs.open, blob))
            parent = chain

    def layer_dirs(self, image: Image) -> list[Path]:
        """The image's snapshot dirs, bottom layer first, unpacking any that are missing."""
        chains = image.chain_ids
        if not all(self.snapshots.exists(c) for c in chains):
            with self.writing():
                self.unpack(image.diff_ids, [layer["digest"] for layer in image.layers])
        return [self.snapshots.path(c) for c in chains]

    def rootfs_mounts(self, image: Image, key: str) -> list[SnapshotMount]:
        """The mounts of a writable root over ``image`` whose upper and work dirs are in the
        directory ``key`` (``Snapshots.prepare``), unpacking any layers that are missing."""
        self.layer_dirs(image)
        return self.snapshots.prepare(key, image.chain_ids)

    # -- garbage collection and checks ----------------------------------

    def gc(self, wait: bool = True) -> GCReport | None:
        """Remove blobs and snapshots that no image and no owner in ``refs`` holds.

        With ``wait=False`` it gives up (returns None) when another process is
        adding content, so ``rmi`` never blocks behind a long pull.
        """
        import fcntl  # see the class docstring

        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return None
            from freight.store.gc import collect  # json: see the class docstring

            return collect(self._root, self.db, self.blobs, self.snapshots, self.refs)
        finally:
            os.close(fd)


def open_store(root: str | os.PathLike[str] | None = None) -> Store:
    """The store at ``root``, by default the user's (``freight.settings``)."""
    return Store(root or default_root())
