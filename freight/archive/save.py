"""``freight save``: images to one tar that is both a Docker archive and an OCI image layout.

The tar is what Docker 25+ writes: ``blobs/sha256/<hex>`` holding every
manifest, config and layer blob once, then ``index.json`` (one descriptor per
image and tag, annotated with the full name and the tag), ``manifest.json``,
``oci-layout`` and ``repositories``, in that (lexical) order. Headers are
USTAR as Go writes them: owner 0:0 with no names, mode 0755 for directories
and 0644 for files; configs and layers carry the image's creation time as
their mtime, as Docker stamps them, and everything else the Unix epoch. The
output is therefore a function of the images alone: two saves of the same
images are identical byte for byte.

Blobs go out exactly as stored (uncompressed layers for images freight built,
the registry's compressed blobs for pulled ones) with the stored manifest
bytes, so loading the archive gives back the same manifest and image IDs. An image's
referrers (its provenance) go into ``blobs/`` too, named by its index.json entries
(``freight.archive.referrers``).
Each image is a copy (``freight.image.copy``) from the store
(``freight.store.imagesource.StoreImage``) into :class:`ArchiveBlobs` (for
the tar) or :class:`LayoutBlobs` (an OCI layout directory). Blobs stream from
the store, verified against their digest as they are read (decoded from the
store's zstd encoding where it is kept encoded); none is held in memory.
"""

from __future__ import annotations

import functools
import io
import json
import shutil
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from freight.archive import docker_archive, oci_layout
from freight.archive.atomic import write_atomic
from freight.archive.referrers import annotate
from freight.archive.referrers import blobs_of as referrer_blobs
from freight.errors import FreightError, InvalidReference, NotFound
from freight.image import reference
from freight.image.copy import Destination, Quiet, copy
from freight.image.mediatypes import OCI_MANIFEST
from freight.image.reference import Reference
from freight.record import Record, field
from freight.store import events
from freight.store.blobs import CHUNK
from freight.store.images import Image
from freight.store.imagesource import StoreImage
from freight.store.layerwrite import tar_header
from freight.store.store import Store
from freight.store.tarformat import BLOCK

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

    from freight.image.copy import Progress
    from freight.image.source import ImageSource, Layer, Readable

_DIR, _REG = b"5", b"0"


class Selection(Record):
    """An image to save and the tags to save it under (none: saved by ID)."""

    image: Image
    refs: list[Reference] = field(default_factory=list)


def select_images(store: Store, names: list[str]) -> list[Selection]:
    """Resolve ``docker save`` arguments: ``name:tag``, ``name`` (all its tags), an ID or a digest."""
    chosen: dict[str, Selection] = {}
    for text in names:
        for image, ref in _matches(store, text):
            selection = chosen.setdefault(image.id, Selection(image))
            if ref is not None and ref not in selection.refs:
                selection.refs.append(ref)
    return list(chosen.values())


def _matches(store: Store, text: str) -> list[tuple[Image, Reference | None]]:
    try:
        ref = None if text.startswith("sha256:") else reference.parse(text, default_tag=False)
    except InvalidReference:
        ref = None
    if ref is None or ref.digest:
        return [(store.resolve_image(text), None)]
    if ref.tag:
        return [(store.resolve_image(text), ref)]
    tagged: list[tuple[Image, Reference | None]] = [
        (image, tag) for image in store.images.all()
        for tag in map(reference.parse, image.repo_tags) if tag.repository == ref.repository]
    tagged.sort(key=lambda pair: str(pair[1]))
    if tagged:
        return tagged
    image = store.images.lookup(text)
    if image is None:  # a whole repository: Docker names it without a tag
        raise NotFound(f"No such image: {text}")
    return [(image, None)]


def save(store: Store, names: list[str], out: BinaryIO) -> None:
    """Write the images ``names`` select (see :func:`select_images`) to ``out`` as one tar."""
    selections = select_images(store, names)
    write_archive(store, selections, out)
    for selection in selections:
        events.emit(store.root_path, "image", "save", selection.image.id, {"name": selection.image.id})


def write_archive(store: Store, selections: list[Selection], out: BinaryIO) -> None:
    """Write selected images as a Docker 25+ style archive (see the module docstring): each
    a copy (``freight.image.copy``) from the store into the archive's blobs."""
    if not selections:
        raise FreightError("no images to save")
    blobs = ArchiveBlobs()
    descriptors: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    tags: list[tuple[Reference, str]] = []
    for selection in selections:
        image = selection.image
        copy(StoreImage(store, image), blobs, Quiet())
        extra, named = referrer_blobs(store, image)
        for digest, data in extra:
            blobs.blobs.setdefault(digest, (0, len(data), functools.partial(io.BytesIO, data)))
        descriptors.extend(annotate(_descriptors(store, selection), named))
        items.append(docker_archive.manifest_item(image.id, selection.refs,
                                                  [layer["digest"] for layer in image.layers]))
        if image.diff_ids:
            tags.extend((ref, image.diff_ids[-1]) for ref in selection.refs)
    tar = TarWriter(out)
    tar.directory("blobs/")
    tar.directory("blobs/sha256/")
    for digest in sorted(blobs.blobs):
        mtime, size, opener = blobs.blobs[digest]
        with closing(opener()) as src:
            tar.file(oci_layout.blob_name(digest), src, size, mtime)
    tar.data(oci_layout.INDEX, oci_layout.index_json(descriptors))
    tar.data(docker_archive.MANIFEST, docker_archive.manifest_json(items))
    tar.data(oci_layout.LAYOUT, oci_layout.LAYOUT_CONTENT)
    if tags:
        tar.data(docker_archive.REPOSITORIES, docker_archive.repositories_json(tags))
    tar.close()


class ArchiveBlobs(Destination):
    """The blobs of a tar being saved, gathered by copies: digest → (mtime, size, opener).

    The tar is written once every image's are known, in digest order; configs
    and layers carry their image's creation time, manifests the epoch.
    """

    def __init__(self) -> None:
        self.blobs: dict[str, tuple[int, int, Callable[[], Readable]]] = {}
        self._created = 0

    def begin(self, source: ImageSource, progress: Progress) -> None:
        self._created = created_epoch(source.config().get("created"))

    def held(self, layer: Layer) -> dict[str, Any] | None:
        return layer.descriptor if layer.digest in self.blobs else None

    def put_layer(self, index: int, layer: Layer, progress: Progress, item: str) -> tuple[dict[str, Any], None]:
        self.blobs.setdefault(layer.digest, (self._created, layer.size or 0, layer.open))
        return layer.descriptor, None

    def put_config(self, source: ImageSource) -> None:
        data = source.raw_config()
        self.blobs.setdefault(source.config_descriptor["digest"], (self._created, len(data), lambda: io.BytesIO(data)))

    def finish(self, source: ImageSource, manifest: bytes, digest: str, media_type: str) -> str:
        self.blobs.setdefault(digest, (0, len(manifest), lambda: io.BytesIO(manifest)))
        return digest


def _descriptors(store: Store, selection: Selection, ref_name: str | None = None) -> list[dict[str, Any]]:
    """The index.json entries for an image: one per tag, or one unnamed."""
    image = selection.image
    media_type = image.manifest.get("mediaType", OCI_MANIFEST)
    size = store.blobs.size(image.manifest_digest)
    if ref_name is not None:
        desc = oci_layout.index_descriptor(media_type, image.manifest_digest, size, None)
        return [{**desc, "annotations": {oci_layout.REF_NAME: ref_name}}]
    refs: list[Reference | None] = list(selection.refs) or [None]
    return [oci_layout.index_descriptor(media_type, image.manifest_digest, size, ref) for ref in refs]


def created_epoch(created: Any) -> int:
    """An image's ``created`` time as whole Unix seconds (0 when absent, unparsable or before 1970)."""
    if not isinstance(created, str):
        return 0
    try:
        when = datetime.fromisoformat(created)
    except ValueError:
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(int(when.timestamp()), 0)


class TarWriter:
    """Writes tar entries as Go's archive/tar does for ``docker save`` (see the module docstring)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def directory(self, name: str, mtime: int = 0) -> None:
        self._out.write(tar_header(name.encode(), kind=_DIR, mode=0o755, uid=0, gid=0, mtime=mtime))

    def data(self, name: str, data: bytes, mtime: int = 0) -> None:
        self._out.write(tar_header(name.encode(), kind=_REG, mode=0o644, uid=0, gid=0, mtime=mtime,
                                   size=len(data)))
        self._out.write(data + b"\0" * (-len(data) % BLOCK))

    def file(self, name: str, src: Readable, size: int, mtime: int = 0) -> None:
        """An entry of ``size`` bytes read from ``src``."""
        self._out.write(tar_header(name.encode(), kind=_REG, mode=0o644, uid=0, gid=0, mtime=mtime, size=size))
        copy_exact(src, self._out, size)
        self._out.write(b"\0" * (-size % BLOCK))

    def close(self) -> None:
        self._out.write(b"\0" * (2 * BLOCK))
        self._out.flush()


def copy_exact(src: Readable, out: BinaryIO, size: int) -> None:
    """Copy ``size`` bytes of ``src`` to ``out``."""
    sent = 0
    while sent < size and (chunk := src.read(min(CHUNK, size - sent))):
        out.write(chunk)
        sent += len(chunk)
    if sent != size:
        raise FreightError(f"a blob of {size} bytes ended after {sent} while being saved")


def write_oci_layout(store: Store, names: list[str], directory: Path, *, ref_name: str | None = None) -> None:
    """Add images to an OCI image layout directory, creating it if needed (skopeo's ``oci:DIR``).

    Blobs already there are kept; ``index.json`` gains one descriptor per
    image and tag, replacing any that had the same name. With ``ref_name``
    (skopeo's ``oci:DIR:NAME``) the one selected image is annotated with just
    that ``org.opencontainers.image.ref.name``.
    """
    selections = select_images(store, names)
    if ref_name is not None and len(selections) != 1:
        raise FreightError(f"ref name {ref_name!r} needs exactly one image, got {len(selections)}")
    (directory / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    layout = LayoutBlobs(directory)
    added: list[dict[str, Any]] = []
    for selection in selections:
        copy(StoreImage(store, selection.image), layout, Quiet())
        extra, named = referrer_blobs(store, selection.image)
        for digest, data in extra:
            layout.write(digest, functools.partial(io.BytesIO, data))
        added += annotate(_descriptors(store, selection, ref_name), named)
    index_path = directory / oci_layout.INDEX
    index = json.loads(index_path.read_bytes()) if index_path.exists() else {}
    names_added = {_desc_name(d) for d in added} - {None}
    kept = [d for d in index.get("manifests") or [] if _desc_name(d) not in names_added
            and d not in added]
    write_atomic(directory / oci_layout.LAYOUT, lambda out: out.write(oci_layout.LAYOUT_CONTENT))
    write_atomic(index_path, lambda out: out.write(oci_layout.index_json(kept + added)))


def _desc_name(desc: dict[str, Any]) -> str | None:
    annotations = desc.get("annotations") or {}
    return annotations.get(oci_layout.IMAGE_NAME) or annotations.get(oci_layout.REF_NAME)


class LayoutBlobs(Destination):
    """An OCI layout directory's ``blobs/`` as a copy destination: blobs already there are kept."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def held(self, layer: Layer) -> dict[str, Any] | None:
        return layer.descriptor if self._path(layer.digest).exists() else None

    def put_layer(self, index: int, layer: Layer, progress: Progress, item: str) -> tuple[dict[str, Any], None]:
        self.write(layer.digest, layer.open)
        return layer.descriptor, None

    def put_config(self, source: ImageSource) -> None:
        self.write(source.config_descriptor["digest"], lambda: source.blob(source.config_descriptor))

    def finish(self, source: ImageSource, manifest: bytes, digest: str, media_type: str) -> str:
        self.write(digest, lambda: io.BytesIO(manifest))
        return digest

    def _path(self, digest: str) -> Path:
        return self.directory / oci_layout.blob_name(digest)

    def write(self, digest: str, opener: Callable[[], Readable]) -> None:
        if not self._path(digest).exists():
            with closing(opener()) as f:
                write_atomic(self._path(digest), lambda out: shutil.copyfileobj(f, out, CHUNK))
