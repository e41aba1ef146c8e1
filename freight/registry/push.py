"""``freight push``: upload an image from the store to a registry (or an archive).

A push is a copy (``freight.image.copy``) from the store's image
(``freight.store.imagesource.StoreImage``) to a :class:`RegistryDestination`.

Images pulled or loaded with compressed layers are pushed exactly as stored,
so their manifest digest is the one they were pulled with. Images freight
built keep uncompressed layers; push gzips each one deterministically
(``freight.store.compression.gzip_compress``) while uploading the output as it
is made (``POST``, one chunked ``PATCH``, then ``PUT ?digest=`` once the digest
is known), stores the compressed blob and remembers it under
``<root>/distribution/<GZIP_FLAVOUR>/<diff_id hex>`` (its digest and size), and pushes a
manifest whose layers say ``...tar+gzip``: a second push compresses nothing and
gives the same manifest digest. No image references the
compressed blob, so garbage collection may remove it; the next push then makes
it again, byte for byte the same.

For each layer (three at a time) the registry is asked whether it has the blob
(``HEAD``), else to mount it from another repository of the same registry that
the image was pulled from or pushed to (its repo digests), else the blob is
uploaded (a layer not gzipped yet has no digest to ask about: it is uploaded
as it is compressed). The config goes up beside the layers. The manifest goes
last, so an interrupted push leaves nothing a client can see. A successful push
records ``repo@digest`` as a repo digest of the image, as Docker does.
"""

from __future__ import annotations

import os
import time
from contextlib import suppress
from pathlib import Path

from freight.errors import InvalidReference, NotFound
from freight.image import reference
from freight.image.copy import Destination, copy
from freight.image.digest import hex_of, short_id
from freight.image.mediatypes import (
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_NONDIST,
    OCI_LAYER_NONDIST_GZIP,
)
from freight.registry.client import Progress, Registry, push_scope
from freight.registry.connections import RegistryError, Unreachable
from freight.registry.progress import Reporter
from freight.registry.referrers import push_referrers
from freight.registry.transportref import is_transport
from freight.store import events
from freight.store.blobs import BlobWriter
from freight.store.blobstream import CHUNK, Abandoned, BlobStream, beside
from freight.store.compression import GZIP_FLAVOUR, gzip_compress, media_type_compression
from freight.store.images import Image
from freight.store.imagesource import StoreImage
from freight.store.store import Store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from freight.image.copy import Progress as Display
    from freight.image.source import ImageSource, Layer
    from freight.registry.auth import Credentials

MONOLITHIC_MAX = 8 << 20  # bigger blobs go up in one PATCH, then PUT, as Docker sends them
UPLOAD_TRIES = 3
_GZIP_TYPE = {OCI_LAYER: OCI_LAYER_GZIP, DOCKER_LAYER: DOCKER_LAYER_GZIP,
              OCI_LAYER_NONDIST: OCI_LAYER_NONDIST_GZIP}


def find_image(store: Store, ref: str) -> Image:
    try:
        return store.resolve_image(ref)
    except NotFound:
        raise RegistryError(f"An image does not exist locally with the tag: {ref}") from None


def push(store: Store, source: str, dest: str | None = None, progress: Reporter | None = None, *,
         chunk_size: int | None = None, credentials: Credentials | None = None) -> str:
    """Push local image ``source`` to ``dest`` (default: ``source`` itself); return the manifest digest
    (``credentials``: these, not the stored ones, as the API's ``X-Registry-Auth`` gives them).

    ``chunk_size``: upload every blob in PATCH chunks of this many bytes (0:
    always one PUT); by default blobs over MONOLITHIC_MAX go in one PATCH.
    """
    progress = progress or Reporter()
    image = find_image(store, source)
    if dest is not None and is_transport(dest):
        from freight.registry.transports import push_archive  # loads the archive code: only for archives

        digest = push_archive(store, source, dest, progress)
    else:
        digest = _push(store, image, reference.parse(dest or source), progress, chunk_size, credentials)
    events.emit(store.root_path, "image", "push", dest or source, {"name": dest or source})
    return digest


def _push(store: Store, image: Image, target: reference.Reference, progress: Reporter, chunk_size: int | None,
          credentials: Credentials | None) -> str:
    """Push ``image`` to the registry ``target`` names; the manifest digest."""
    if target.digest:
        raise InvalidReference(f"cannot push a digest reference: {target.familiar()}")
    progress.message(f"The push refers to repository [{target.repository}]")
    with store.writing(), Registry(target.domain, credentials) as registry:
        registry.ping()
        pushing = RegistryDestination(store, registry, target, chunk_size)
        digest = copy(StoreImage(store, image), pushing, progress)
        store.images.insert(image.id, image.manifest_digest, image.created, image.size, [],
                            f"{target.repository}@{digest}")
        subject = {"mediaType": pushing.media_type, "digest": digest, "size": pushing.size}
        attached = push_referrers(store, registry, target.path, image, subject, str(target))
    progress.message(f"{target.tag}: digest: {digest} size: {pushing.size}")
    for artifact in attached:
        progress.message(f"{target.tag}: provenance: {artifact}")
    return digest


class RegistryDestination(Destination):
    """A registry's repository as a copy destination (``freight.image.copy``), for images of ``store``.

    Blobs go up from the store (see the module docstring); ``size`` is the
    pushed manifest's once the copy finished.
    """

    HELD = "Layer already exists"

    def __init__(self, store: Store, registry: Registry, target: reference.Reference,
                 chunk_size: int | None) -> None:
        self.store = store
        self.registry = registry
        self.target = target
        self.chunk_size = chunk_size
        self.sources: list[str] = []
        self.size = 0
        self.media_type = ""

    def begin(self, source: ImageSource, progress: Display) -> None:
        self.sources = mount_sources(source.origins, self.target)

    def item(self, layer: Layer) -> str:
        return short_id(layer.diff_id)

    def announce(self, layer: Layer, progress: Display, item: str) -> None:
        progress.status(item, "Preparing")

    def put_layer(self, index: int, layer: Layer, progress: Display, item: str) -> tuple[dict[str, Any], str]:
        advance = lambda n: progress.advance(item, n)  # noqa: E731
        repo = self.target.path
        if media_type_compression(layer.media_type) == "none" and cached_blob(self.store, layer.diff_id) is None:
            progress.status(item, "Pushing")
            return _compress_and_push(self.store, self.registry, repo, layer.descriptor, advance), "Pushed"
        desc = distributable_layer(self.store, layer.descriptor)
        progress.status(item, "Pushing", desc["size"])
        return desc, _push_blob(self.store, self.registry, repo, desc["digest"], desc["size"], self.sources,
                                self.chunk_size, advance)

    def put_config(self, source: ImageSource) -> None:
        config = source.config_descriptor
        _push_blob(self.store, self.registry, self.target.path, config["digest"], config["size"], self.sources,
                   self.chunk_size)

    def finish(self, source: ImageSource, manifest: bytes, digest: str, media_type: str) -> str:
        self.size = len(manifest)
        self.media_type = media_type
        return self.registry.put_manifest(self.target.path, self.target.tag or "latest", manifest, media_type)


def mount_sources(origins: list[str], target: reference.Reference) -> list[str]:
    """Other repositories on the target's registry that hold the image (from its repo digests)."""
    sources = []
    for name in origins:
        ref = reference.parse(name)
        if ref.domain == target.domain and ref.path != target.path and ref.path not in sources:
            sources.append(ref.path)
    return sources


def _compress_and_push(store: Store, registry: Registry, repo: str, layer: dict[str, Any],
                       advance: Progress) -> dict[str, Any]:
    """Gzip an uncompressed layer and upload the gzip output while it is made.

    The compressed blob's digest is known only at the end, so the upload is a
    ``POST``, one chunked ``PATCH`` of the output as it comes, and ``PUT
    ?digest=`` (sent while the store still syncs its copy to disk). The output
    also goes into the store and the cache (see the module docstring). If the
    upload breaks, the compression still finishes and the stored blob is
    pushed the ordinary way, with its retries.
    """
    stream = BlobStream()
    location = None
    with store.blobs.open(layer["digest"]) as src, store.blobs.writer() as writer:
        compressed = beside(lambda: _gzip(src, writer, stream))
        try:
            with stream:
                location = registry.upload_stream(repo, iter(lambda: stream.read(CHUNK), b""), advance)
        except (Unreachable, Abandoned):
            pass  # Abandoned: the compression failed, and compressed() says why
        except BaseException:
            with suppress(Exception):  # let it finish with the writer before the writer goes
                compressed()
            raise
        compressed()
        digest, size = writer.written_digest(), writer.size
        stored = beside(lambda: _keep(store, layer["digest"], writer))
        try:
            if location is not None:
                registry.finish_upload(repo, location, digest)
        finally:
            stored()
    if location is None:
        _push_blob(store, registry, repo, digest, size, [], None, advance)
    return {**layer, "mediaType": _GZIP_TYPE.get(layer["mediaType"], OCI_LAYER_GZIP),
            "digest": digest, "size": size}


def _push_blob(store: Store, registry: Registry, repo: str, digest: str, size: int,
               sources: list[str], chunk_size: int | None, advance: Progress = lambda n: None) -> str:
    """Make the registry hold a blob; return Docker's status word for how."""
    if registry.has_blob(repo, digest, push_scope(repo)):
        return "Layer already exists"
    for source in sources:
        if registry.mount_blob(repo, digest, source):
            return f"Mounted from {source}"
    if chunk_size is None:
        chunk_size = size if size > MONOLITHIC_MAX else 0
    for attempt in range(1, UPLOAD_TRIES + 1):
        try:
            registry.upload_blob(repo, digest, size, lambda: store.blobs.open(digest), chunk_size, advance)
            return "Pushed"
        except Unreachable:
            if attempt == UPLOAD_TRIES:
                raise
            time.sleep(0.5 * attempt)  # then start a fresh upload, as Docker retries
    raise AssertionError("unreachable")


def distributable_layer(store: Store, layer: dict[str, Any]) -> dict[str, Any]:
    """The descriptor to push for a stored layer: compressed ones as they are, plain tars gzipped."""
    if media_type_compression(layer["mediaType"]) != "none":
        return layer
    digest, size = compressed_blob(store, layer["digest"])
    return {**layer, "mediaType": _GZIP_TYPE.get(layer["mediaType"], OCI_LAYER_GZIP),
            "digest": digest, "size": size}


def compressed_blob(store: Store, diff_id: str) -> tuple[str, int]:
    """The gzipped blob of an uncompressed layer: from the cache, else made and cached."""
    return cached_blob(store, diff_id) or _compress(store, diff_id)


def cached_blob(store: Store, diff_id: str) -> tuple[str, int] | None:
    """The cached gzipped blob of an uncompressed layer (digest, size), if it is still stored."""
    try:
        digest, size = _cache_entry(store, diff_id).read_text().split()
        if store.blobs.has(digest):
            return digest, int(size)
    except (FileNotFoundError, ValueError):
        pass
    return None


def _cache_entry(store: Store, diff_id: str) -> Path:
    return store.root / "distribution" / GZIP_FLAVOUR / hex_of(diff_id)


def _compress(store: Store, diff_id: str) -> tuple[str, int]:
    """Gzip a stored layer into the store and the cache."""
    with store.blobs.open(diff_id) as src, store.blobs.writer() as writer:
        _gzip(src, writer)
        return _keep(store, diff_id, writer)


def _gzip(src: BinaryIO, writer: BlobWriter, stream: BlobStream | None = None) -> None:
    """Gzip ``src`` into ``writer``; ``stream`` gets the output too, and its end after the last byte."""
    try:
        out = _Tee(writer, stream)
        gzip_compress(src, out)
        out.flush()
    except BaseException:
        if stream is not None:
            stream.abandon()
        raise
    if stream is not None:
        stream.end()


def _keep(store: Store, diff_id: str, writer: BlobWriter) -> tuple[str, int]:
    """Commit the gzipped blob of layer ``diff_id`` and remember it in the cache."""
    import tempfile  # heavy: a push of layers already compressed does without it

    digest = writer.commit()
    entry = _cache_entry(store, diff_id)
    entry.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=store.scratch_dir)
    with os.fdopen(fd, "w") as f:
        f.write(f"{digest} {writer.size}\n")
    os.replace(tmp, entry)
    return digest, writer.size


class _Tee:
    """Where the compressor writes: the blob writer, and a stream fed in pieces of at least CHUNK."""

    def __init__(self, writer: BlobWriter, stream: BlobStream | None) -> None:
        self._writer = writer
        self._stream = stream
        self._pending: list[bytes | bytearray | memoryview] = []  # each kept as given: see layerwrite
        self._held = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._writer.write(data)
        if self._stream is not None:
            self._pending.append(data)
            self._held += len(data)
            if self._held >= CHUNK:
                self.flush()
        return len(data)

    def flush(self) -> None:
        if self._pending and self._stream is not None:
            self._stream.feed(b"".join(self._pending))
        self._pending, self._held = [], 0
