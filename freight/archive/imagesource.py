"""Image archives as image sources (``freight.image.source``; go-containerregistry's ``layout``
and ``tarball``).

An :class:`ArchiveSource` is one image of an opened archive (``freight.archive.reader``):
an OCI image layout, as a directory or a tar, or a Docker archive (whose
manifest freight writes over the archive's own files, see
``freight.archive.docker_archive``). Its blobs are the archive's spooled files,
verified as they are read; into a blob store a layer goes by rename (or, a
plain tar, encoded), after its spooled copy was checked against its
descriptor. :class:`LayoutIndex` is an image index of an OCI layout, whose
images are the layout's own blobs.
"""

from __future__ import annotations

from freight.archive.oci_layout import blob_name
from freight.archive.source import Source
from freight.errors import DigestMismatch
from freight.image.source import ImageSource, IndexSource, Layer, is_index
from freight.store.blobs import CHUNK

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.archive.model import ArchiveImage
    from freight.image.source import Advance, Blobs, Feed, Readable
    from freight.store.blobs import BlobStore


class ArchiveSource(ImageSource):
    """An image whose blobs are files of an archive: ``files`` maps a digest to its file (without:
    the OCI layout's ``blobs/<alg>/<hex>``)."""

    def __init__(self, source: Source, raw: bytes, digest: str, media_type: str | None = None,
                 files: dict[str, str] | None = None) -> None:
        super().__init__(raw, digest, media_type)
        self.source = source
        self.files = files

    @classmethod
    def of(cls, source: Source, image: ArchiveImage) -> ArchiveSource:
        """The source of an image an archive reader found."""
        return cls(source, image.manifest, image.manifest_digest, None, image.blobs)

    def file(self, digest: str) -> str:
        return self.files[digest] if self.files is not None and digest in self.files else blob_name(digest)

    def open_blob(self, descriptor: dict[str, Any]) -> Readable:
        return self.source.open(self.file(descriptor["digest"]))

    def layer(self, descriptor: dict[str, Any], diff_id: str) -> Layer:
        return ArchiveLayer(self, descriptor, diff_id)


class ArchiveLayer(Layer):
    """A layer of an archive: its spooled file, once checked, moves into a blob store by rename."""

    source: ArchiveSource

    def fetch(self, blobs: Blobs, advance: Advance, feed: Feed | None = None, encode: bool = False) -> None:
        name = self.source.file(self.digest)
        entry = self.source.source.entry(name)
        if entry.digest != self.digest or (self.size is not None and entry.size != self.size):
            if feed is not None:
                feed.abandon()
            raise DigestMismatch(f"layer {name}: content digest {entry.digest} does not match {self.digest}")
        if feed is not None:
            with entry.path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    feed.feed(chunk)
            feed.end()
        self.source.source.take(name, _blob_store(blobs), layer=True)
        advance(entry.size)


def _blob_store(blobs: Blobs) -> BlobStore:
    """The blob store ``take`` renames into (an archive layer goes only into the store)."""
    from freight.store.blobs import BlobStore

    assert isinstance(blobs, BlobStore)
    return blobs


class LayoutIndex(IndexSource):
    """An image index stored in an OCI layout."""

    def __init__(self, source: Source, raw: bytes, digest: str) -> None:
        super().__init__(raw, digest)
        self.source = source

    def child(self, descriptor: dict[str, Any]) -> ImageSource:
        return layout_image(self.source, descriptor, {})


def layout_image(source: Source, descriptor: dict[str, Any], platform: dict[str, str]) -> ImageSource:
    """The image an OCI layout's descriptor names (for an index: its ``platform`` image)."""
    digest = descriptor["digest"]
    name = blob_name(digest)
    entry = source.entry(name)
    if entry.digest != digest:
        raise DigestMismatch(f"blob {digest} in the archive does not match its digest ({entry.digest})")
    raw = source.read(name)
    media_type = descriptor.get("mediaType")
    if is_index(raw, media_type):
        return LayoutIndex(source, raw, digest).image(platform)
    return ArchiveSource(source, raw, digest, media_type)
