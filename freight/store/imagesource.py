"""The local store as an image source and as a copy destination (``freight.image.copy``).

:class:`StoreImage` reads an image of the store: its manifest's stored bytes,
its config and layers from the blob store (verified as they are read, like
any source's). :class:`StoreDestination` takes an image into the store, as
``pull`` and ``load`` do: it holds a layer when the store has its blob, or a
blob of the same uncompressed digest (diff_id) under another image (then the
image is recorded with that layer's local descriptor, as Docker reuses a layer
it holds and prints ``Already exists``); other layers are fetched (``Layer.fetch``)
while a thread beside unpacks them into their snapshot from the same bytes,
the snapshot appearing only once the blob matched its digest; the image is
recorded only when every blob and snapshot is in place (the caller holds
``Store.writing`` around the copy), so a failure leaves no image, only
verified blobs and snapshots that the next pull reuses or GC removes.
"""

from __future__ import annotations

import functools
from contextlib import suppress

from freight.errors import FreightError, LayerError
from freight.image.copy import Destination
from freight.image.digest import chain_ids
from freight.image.source import ImageSource, Layer
from freight.store.blobstream import Abandoned, BlobStream, beside
from freight.store.compression import media_type_compression

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, BinaryIO

    from freight.image.copy import Progress
    from freight.store.images import Image
    from freight.store.store import Store


class StoreImage(ImageSource):
    """An image of the store."""

    def __init__(self, store: Store, image: Image) -> None:
        super().__init__(store.blobs.read(image.manifest_digest), image.manifest_digest)
        self.store = store
        self.image = image
        self.origins = list(image.repo_digests)

    def open_blob(self, descriptor: dict[str, Any]) -> BinaryIO:
        return self.store.blobs.open(descriptor["digest"])


class StoreDestination(Destination):
    """Images copied into the store get ``tags`` and the registry's ``repo_digest``; ``image``
    is the record once the copy finished (with ``record=False`` the caller records it, as
    ``load`` does once every image of an archive is in). ``reuse``: hold a layer the store
    has as another blob of the same diff_id (for downloads; an archive's blob is here anyway)."""

    def __init__(self, store: Store, tags: Sequence[str] = (), repo_digest: str | None = None, *,
                 record: bool = True, reuse: bool = False) -> None:
        self.store = store
        self.tags = list(tags)
        self.repo_digest = repo_digest
        self.record = record
        self.reuse = reuse
        self.image: Image | None = None
        self._chains: list[tuple[str, str | None, str]] = []  # (chain ID, parent, diff_id) per layer
        self._by_diff_id: dict[str, dict[str, Any]] | None = None

    def begin(self, source: ImageSource, progress: Progress) -> None:
        diff_ids = [layer.diff_id for layer in source.layers()]
        chains = chain_ids(diff_ids)
        self._chains = [(chain, chains[i - 1] if i else None, diff_id)
                        for i, (chain, diff_id) in enumerate(zip(chains, diff_ids))]

    def held_config(self, descriptor: dict[str, Any]) -> bytes | None:
        return self.store.blobs.read(descriptor["digest"]) if self.store.blobs.has(descriptor["digest"]) else None

    def held(self, layer: Layer) -> dict[str, Any] | None:
        if self.store.blobs.has(layer.digest):
            return layer.descriptor
        return self._held_layers().get(layer.diff_id) if self.reuse else None

    def _held_layers(self) -> dict[str, dict[str, Any]]:
        """diff_id → the descriptor of a stored blob of it, from the store's images (read once)."""
        if self._by_diff_id is None:
            self._by_diff_id = {}
            for image in self.store.images.all():
                with suppress(FreightError):  # an image it cannot read lends no layer
                    for desc, diff_id in zip(image.layers, image.diff_ids):
                        if diff_id not in self._by_diff_id and self.store.blobs.has(desc["digest"]):
                            self._by_diff_id[diff_id] = desc
        return self._by_diff_id

    def starting(self, layer: Layer, progress: Progress, item: str) -> None:
        progress.status(item, "Pulling fs layer", layer.size)

    def put_layer(self, index: int, layer: Layer, progress: Progress, item: str) -> tuple[dict[str, Any], str | None]:
        """Fetch a layer's blob and, at the same time, unpack it into its snapshot.

        The snapshot becomes visible only after the blob matched its digest
        (``Snapshots.unpack_stream`` reads to the stream's end, which the fetch
        gives only then). A fetch that had to start over abandons the streamed
        unpack (its temporary directory goes) and leaves the layer for
        ``settle`` to unpack from the blob.
        """
        progress.status(item, "Downloading", layer.size)
        snapshot = self._chains[index]
        unpacked: Callable[[], None] = lambda: None  # noqa: E731
        stream = None
        if not self.store.snapshots.exists(snapshot[0]):
            stream = BlobStream()
            unpacked = beside(lambda: self._unpack_stream(snapshot, stream))
        try:
            layer.fetch(self.store.blobs, lambda n: progress.advance(item, n), stream, _uncompressed(layer))
        except BaseException:
            if stream is not None:
                stream.abandon()  # in case the fetch failed before it could
            with suppress(Exception):  # the fetch's failure is the one to report
                unpacked()
            raise
        unpacked()
        progress.status(item, "Download complete")
        return layer.descriptor, None

    def _unpack_stream(self, snapshot: tuple[str, str | None, str], stream: BlobStream) -> None:
        """Unpack a layer from ``stream``; an abandoned stream is no failure (``settle`` unpacks it)."""
        with stream:
            try:
                self.store.snapshots.unpack_stream(*snapshot, stream)
            except Abandoned:
                pass

    def settle(self, index: int, layer: Layer, placed: dict[str, Any], progress: Progress, item: str,
               moved: bool) -> None:
        self.store.snapshots.unpack(*self._chains[index], functools.partial(self.store.blobs.open, placed["digest"]))
        if moved:
            progress.status(item, "Pull complete")

    def put_config(self, source: ImageSource) -> None:
        digest = source.config_descriptor["digest"]
        if not self.store.blobs.has(digest):
            self.store.blobs.put(source.raw_config(), expected=digest)

    def finish(self, source: ImageSource, manifest: bytes, digest: str, media_type: str) -> str:
        self.store.blobs.put(manifest, expected=digest)
        if self.record:
            self.image = self.store.add_image(digest, tags=self.tags, repo_digest=self.repo_digest)
        return digest


def _uncompressed(layer: Layer) -> bool:
    """Whether a layer's descriptor says it is a plain tar (which the store keeps encoded)."""
    try:
        return media_type_compression(layer.media_type) == "none"
    except LayerError:
        return False
