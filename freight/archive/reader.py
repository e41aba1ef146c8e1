"""Reading image archives: what images an archive holds, and checking every byte of them.

:func:`open_archive` takes any of the forms ``docker load`` and skopeo's
``docker-archive:``, ``oci-archive:`` and ``oci:`` transports read — a Docker
archive of any version, an OCI image layout as a tar or a directory, a tar
compressed as a whole with gzip or zstd — and gives an :class:`Archive`: the
images it holds (:class:`ArchiveImage`, each with its manifest, config, layer
descriptors and names) and their blobs. Nothing in here writes to a store;
``freight.archive.load`` does that, and a registry client can push the same
images from the same object.

:meth:`Archive.verify` checks, before anything is stored, that every blob
hashes to its digest and size and that every layer, uncompressed, hashes to
the diff_id the config gives it.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from freight.archive import docker_archive, oci_layout
from freight.archive.model import ArchiveImage
from freight.archive.source import (
    ArchiveError,
    DirSource,
    Entry,
    Source,
    TarFileSource,
    TarSource,
    compression_of,
    hash_stream,
)
from freight.errors import DigestMismatch, LayerError
from freight.store.compression import open_layer

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO


class Archive:
    """The images of an opened archive and access to their blobs. Close it when done.

    Moving an archive's images somewhere else is a copy from each image's
    source (``freight.archive.imagesource``)::

        with open_archive("images.tar") as archive:
            archive.verify()
            for image in archive.images:
                copy(ArchiveSource.of(archive.source, image), destination, progress)

    Files are spooled under ``spool_dir`` (see ``freight.archive.source``);
    closing the archive removes the spooled copies.
    """

    def __init__(self, source: Source, images: list[ArchiveImage], kind: str) -> None:
        self.source = source
        self.images = images
        self.kind = kind  # "oci" (an index.json was read) or "docker" (manifest.json)
        self._diff_ids: dict[str, str] = {}

    def blob(self, image: ArchiveImage, digest: str) -> Entry:
        """The archive file holding one of ``image``'s blobs."""
        return self.source.entry(image.blobs[digest])

    def verify(self) -> None:
        """Raise DigestMismatch or ArchiveError unless every image is complete and intact."""
        for image in self.images:
            self._verify_image(image)

    def _verify_image(self, image: ArchiveImage) -> None:
        diff_ids = image.diff_ids
        if len(diff_ids) != len(image.layers):
            raise ArchiveError(f"invalid archive: image {image.config_digest} has {len(image.layers)} "
                               f"layers but its config lists {len(diff_ids)} diff_ids")
        for desc, diff_id in zip(image.layers, diff_ids):
            entry = self.blob(image, desc["digest"])
            name = image.blobs[desc["digest"]]
            if entry.digest != desc["digest"]:
                raise DigestMismatch(f"layer {name}: content digest {entry.digest} does not match {desc['digest']}")
            if desc.get("size", entry.size) != entry.size:
                raise DigestMismatch(f"layer {name}: size {entry.size} does not match {desc['size']}")
            if self._diff_id(entry) != diff_id:
                raise DigestMismatch(f"layer {name}: uncompressed digest {self._diff_id(entry)} does not "
                                     f"match diff_id {diff_id} in the image config")

    def _diff_id(self, entry: Entry) -> str:
        """The digest of the layer uncompressed (sniffed, whatever the media type claims)."""
        if entry.digest not in self._diff_ids:
            if compression_of(entry.path) == "none":
                self._diff_ids[entry.digest] = entry.digest
            else:
                try:
                    with entry.path.open("rb") as raw, open_layer(raw) as tar:
                        self._diff_ids[entry.digest] = hash_stream(tar)[0]
                except LayerError as err:
                    raise LayerError(f"layer {entry.digest}: {err}") from None
        return self._diff_ids[entry.digest]

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(src: BinaryIO | Path | str, spool_dir: Path | None = None) -> Source:
    """A directory, a tar file's path, or a tar stream (each maybe gzip or zstd as a whole)."""
    if isinstance(src, (str, Path)):
        path = Path(src)
        if path.is_dir():
            return DirSource(path, spool_dir)
        try:
            f = path.open("rb")
        except OSError as err:
            raise ArchiveError(f"open {path}: {err.strerror.lower() if err.strerror else err}") from None
        with f:
            if path.is_file() and compression_of(path) == "none":
                return _tar_errors(lambda: TarFileSource(path, spool_dir))
            return open_source(f, spool_dir)
    return _tar_errors(lambda: _read_stream(src, spool_dir))


def _read_stream(stream: BinaryIO, spool_dir: Path | None) -> TarSource:
    with open_layer(stream) as tar:
        return TarSource(tar, spool_dir)


def _tar_errors(read: Callable[[], Source]) -> Source:
    """Run ``read``, turning tar and codec errors into one clear ArchiveError."""
    try:
        return read()
    except tarfile.TarError as err:
        message = "empty input" if "empty file" in str(err) else str(err)
        raise ArchiveError(f"invalid archive: {message}") from None
    except LayerError as err:
        raise ArchiveError(f"invalid archive: truncated or corrupt compressed data ({err.__cause__})") from None


def open_archive(src: BinaryIO | Path | str, spool_dir: Path | None = None, *, prefer: str = "oci") -> Archive:
    """Open any image archive (see the module docstring).

    An archive that is both an OCI layout and a Docker archive (what Docker 25+
    and ``freight save`` write) is read through its ``index.json``, which keeps
    manifest digests, unless ``prefer="docker"``. ``spool_dir`` holds the
    spooled members of a tar (default: the system's temporary directory).
    """
    source = open_source(src, spool_dir)
    try:
        return _archive(source, prefer)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        source.close()
        raise ArchiveError(f"invalid archive: malformed metadata ({type(err).__name__}: {err})") from None
    except BaseException:
        source.close()
        raise


def read_oci_layout(src: BinaryIO | Path | str, spool_dir: Path | None = None) -> Archive:
    """Open an OCI image layout (a directory, or a tar of one); refuse anything else."""
    return _open_kind(src, spool_dir, "oci", "not an OCI image layout (no index.json)")


def read_docker_archive(src: BinaryIO | Path | str, spool_dir: Path | None = None) -> Archive:
    """Open a Docker archive (``docker save`` output of any version) through its manifest.json."""
    return _open_kind(src, spool_dir, "docker", "not a Docker archive (no manifest.json)")


def _open_kind(src: BinaryIO | Path | str, spool_dir: Path | None, kind: str, refusal: str) -> Archive:
    archive = open_archive(src, spool_dir, prefer=kind)
    if archive.kind != kind:
        archive.close()
        raise ArchiveError(f"invalid archive: {refusal}")
    return archive


def _archive(source: Source, prefer: str) -> Archive:
    has_index = source.has(oci_layout.INDEX)
    has_manifest = source.has(docker_archive.MANIFEST)
    if has_manifest and (prefer == "docker" or not has_index):
        kind, images = "docker", _merge(docker_archive.read_images(source))
    elif has_index:
        kind, images = "oci", _with_docker_fallback(source, oci_layout.read_images(source), has_manifest)
    else:
        raise ArchiveError("invalid archive: no manifest.json or index.json found "
                           "(not a docker save or OCI image layout archive)")
    for image in images:
        image.check()
    return Archive(source, images, kind)


def _with_docker_fallback(source: Source, images: list[ArchiveImage], has_manifest: bool) -> list[ArchiveImage]:
    """Mend an OCI index from a manifest.json beside it.

    Docker 25.0.0 wrote OCI manifests without their layers; the manifest.json
    next to them is right, so its entry replaces such an image. Names missing
    from the index's annotations come from manifest.json's RepoTags.
    """
    if not has_manifest:
        return _merge(images)
    docker = {image.config_digest: image for image in docker_archive.read_images(source)}
    mended = []
    for image in images:
        twin = docker.get(image.config_digest)
        if twin is not None and len(image.layers) != len(image.diff_ids):
            twin.add_names(image.names)
            image = twin
        elif twin is not None and not image.names:
            image.add_names(twin.names)
        mended.append(image)
    return _merge(mended)


def _merge(images: list[ArchiveImage]) -> list[ArchiveImage]:
    """One entry per manifest, carrying all its names, in first-seen order."""
    merged: dict[str, ArchiveImage] = {}
    for image in images:
        if image.manifest_digest in merged:
            merged[image.manifest_digest].add_names(image.names)
        else:
            merged[image.manifest_digest] = image
    return list(merged.values())
