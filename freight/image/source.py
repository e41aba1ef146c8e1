"""The image-source interface: an image's manifest, config and layers, wherever they are.

The shape of go-containerregistry's ``v1.Image`` and ``v1.ImageIndex``. An
:class:`ImageSource` has its manifest's exact bytes (``raw_manifest``), their
``digest`` and ``media_type``, the manifest and config as JSON, and its
:class:`Layer` s, each with its descriptor and diff_id. Every blob is read
lazily: ``open`` gives a stream that hashes what passes and raises
``DigestMismatch`` at its end when the bytes are not the ones the descriptor
names (or at once when there are more of them), so nothing read from a source
is trusted before it is verified. An :class:`IndexSource` is an image index:
``image(platform)`` picks the manifest for a platform
(``freight.image.platform``).

A source says only how to open one of its blobs by descriptor
(``open_blob``); a layer may also say how to put itself into a blob store
faster than through ``open`` (``Layer.fetch``: a registry download that
resumes, an archive's spooled file moved by rename). The sources: the local
store (``freight.store.imagesource``), OCI layouts and Docker archives
(``freight.archive.imagesource``), registries (``freight.registry.remote``).
``freight.image.copy`` moves an image from any source to any destination.
"""

from __future__ import annotations

import json

from freight.errors import DigestMismatch, FreightError
from freight.image.digest import new_sha256, sha256_bytes
from freight.image.mediatypes import INDEXES, MANIFESTS, OCI_MANIFEST
from freight.image.platform import choose_manifest

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

    class Readable(Protocol):
        """A blob's bytes as a source opens them (a file, a response body)."""

        def read(self, n: int = -1, /) -> bytes: ...
        def close(self) -> None: ...

    class BlobWriting(Protocol):
        """What ``Layer.fetch`` writes a blob with (``freight.store.blobs.BlobWriter``)."""

        size: int

        def write(self, data: bytes | bytearray | memoryview) -> int: ...
        def written_digest(self) -> str: ...
        def commit(self, expected: str | None = None) -> str: ...
        def abort(self) -> None: ...

    class Blobs(Protocol):
        """Where ``Layer.fetch`` puts a blob (``freight.store.blobs.BlobStore``)."""

        def has(self, digest: str) -> bool: ...
        def writer(self, sync_every: int = 0, encode: bool = False) -> BlobWriting: ...

    class Feed(Protocol):
        """What also gets a layer's bytes while ``Layer.fetch`` stores them (a ``BlobStream``)."""

        def feed(self, chunk: bytes) -> None: ...
        def end(self) -> None: ...
        def abandon(self) -> None: ...

    Advance = Callable[[int], None]

CHUNK = 1 << 20


class Verified:
    """A blob's stream that hashes what is read and refuses bytes that are not the blob's.

    Reading past the descriptor's ``size``, or reaching its size (or, with no
    size, the end) with another digest, raises ``DigestMismatch``: a reader
    that stops at the descriptor's size has still had the blob checked.
    """

    def __init__(self, raw: Readable, digest: str, size: int | None) -> None:
        self._raw = raw
        self.digest = digest
        self.size = size
        self._hash = new_sha256()
        self._read = 0
        self._checked = False

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._read += len(data)
        if self.size is not None and self._read > self.size:
            raise DigestMismatch(f"blob {self.digest} is longer than its descriptor's {self.size} bytes")
        self._hash.update(data)
        if not self._checked and ((not data and n != 0) or self._read == self.size):
            self._check()
        return data

    def _check(self) -> None:
        self._checked = True
        got = "sha256:" + self._hash.hexdigest()
        if got != self.digest or (self.size is not None and self._read != self.size):
            raise DigestMismatch(f"blob {self.digest}: content digest {got} does not match")

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> Verified:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Layer:
    """One layer of an image: its descriptor and diff_id, its bytes read when asked for."""

    def __init__(self, source: ImageSource, descriptor: dict[str, Any], diff_id: str) -> None:
        self.source = source
        self.descriptor = descriptor
        self.diff_id = diff_id

    @property
    def digest(self) -> str:
        return str(self.descriptor["digest"])

    @property
    def size(self) -> int | None:
        size = self.descriptor.get("size")
        return size if isinstance(size, int) else None

    @property
    def media_type(self) -> str:
        return str(self.descriptor.get("mediaType", ""))

    def open(self) -> Verified:
        """The layer blob's bytes (compressed as the descriptor says), verified as they are read."""
        return self.source.blob(self.descriptor)

    def fetch(self, blobs: Blobs, advance: Advance, feed: Feed | None = None, encode: bool = False) -> None:
        """Put the blob into ``blobs`` (``encode``: keep it encoded, see ``BlobStore.writer``),
        reporting bytes moved to ``advance``; ``feed`` gets the same bytes, and their end once
        verified. Sources with a faster way (a resumable download, a rename) override this."""
        writer = blobs.writer(encode=encode)
        try:
            with self.open() as src:
                while chunk := src.read(CHUNK):
                    writer.write(chunk)
                    advance(len(chunk))
                    if feed is not None:
                        feed.feed(chunk)
            if feed is not None:
                feed.end()
            writer.commit(self.digest)
        except BaseException:
            if feed is not None:
                feed.abandon()
            raise
        finally:
            writer.abort()


class ImageSource:
    """An image: its manifest (exact bytes), config and layers. Subclasses say how to open a blob."""

    def __init__(self, raw_manifest: bytes, digest: str, media_type: str | None = None) -> None:
        self.raw_manifest = raw_manifest
        self.digest = digest
        self.manifest: dict[str, Any] = _json_object(raw_manifest, f"manifest {digest}")
        self.media_type = media_type or self.manifest.get("mediaType") or OCI_MANIFEST
        if self.manifest.get("schemaVersion") != 2 or self.media_type not in MANIFESTS \
                or not isinstance(self.manifest.get("config"), dict):
            raise FreightError(f"unsupported manifest format: {self.media_type}")
        self.origins: list[str] = []  # ``repo@digest`` names it has elsewhere (a push mounts from them)
        self._raw_config: bytes | None = None
        self._layers: list[Layer] | None = None

    def open_blob(self, descriptor: dict[str, Any]) -> Readable:
        """The blob's bytes as the source has them, not verified (``blob`` verifies)."""
        raise NotImplementedError

    def layer(self, descriptor: dict[str, Any], diff_id: str) -> Layer:
        """The ``Layer`` for a descriptor (sources with their own way to fetch one override this)."""
        return Layer(self, descriptor, diff_id)

    def blob(self, descriptor: dict[str, Any]) -> Verified:
        size = descriptor.get("size")
        return Verified(self.open_blob(descriptor), descriptor["digest"], size if isinstance(size, int) else None)

    @property
    def config_descriptor(self) -> dict[str, Any]:
        config: dict[str, Any] = self.manifest["config"]
        return config

    def known_config(self, data: bytes) -> None:
        """Use a copy of the config held elsewhere (a destination's) rather than read it; checked."""
        digest = self.config_descriptor["digest"]
        if (got := sha256_bytes(data)) != digest:
            raise DigestMismatch(f"blob {digest}: content digest {got} does not match")
        self._raw_config = data

    def raw_config(self) -> bytes:
        """The config blob's bytes, verified (read once)."""
        if self._raw_config is None:
            with self.blob(self.config_descriptor) as f:
                self._raw_config = f.read()
        return self._raw_config

    def config(self) -> dict[str, Any]:
        return _json_object(self.raw_config(), f"image config {self.config_descriptor['digest']}")

    def layers(self) -> list[Layer]:
        """The layers bottom first, each with the diff_id the config gives it."""
        if self._layers is None:
            descriptors = self.manifest.get("layers") or []
            diff_ids = (self.config().get("rootfs") or {}).get("diff_ids") or []
            if len(diff_ids) != len(descriptors):
                raise FreightError(f"image {self.config_descriptor['digest']}: {len(descriptors)} layers "
                                   f"but {len(diff_ids)} diff_ids")
            self._layers = [self.layer(d, diff_id) for d, diff_id in zip(descriptors, diff_ids)]
        return self._layers


class IndexSource:
    """An image index: its manifest (exact bytes) and the images it lists."""

    def __init__(self, raw_manifest: bytes, digest: str) -> None:
        self.raw_manifest = raw_manifest
        self.digest = digest
        self.manifest = _json_object(raw_manifest, f"index {digest}")

    def child(self, descriptor: dict[str, Any]) -> ImageSource:
        """The image an index entry names."""
        raise NotImplementedError

    def image(self, platform: dict[str, str]) -> ImageSource:
        """The image for ``platform`` (``freight.image.platform.choose_manifest``)."""
        return self.child(choose_manifest(self.manifest, platform))


def is_index(raw: bytes, media_type: str | None = None) -> bool:
    """Whether manifest bytes (of ``media_type``, if known) are an image index."""
    if media_type in INDEXES:
        return True
    return media_type not in MANIFESTS and "manifests" in _json_object(raw, "manifest")


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError:
        raise FreightError(f"{what} is not JSON") from None
    if not isinstance(doc, dict):
        raise FreightError(f"{what} is not a JSON object")
    return doc
