"""skopeo's archive transports for ``freight pull`` and ``freight push``.

``oci:DIR[:REF]`` is an OCI image layout directory, ``oci-archive:FILE[:REF]``
a tar of one, ``docker-archive:FILE[:REF]`` a ``docker save`` tar (the names:
``freight.registry.transportref``). As a source, REF picks the image: for OCI
layouts the index entry whose ``org.opencontainers.image.ref.name`` (or
``io.containerd.image.name``) is REF, for Docker archives a RepoTag; without REF
the archive must hold exactly one image. An index entry that is itself an index
is resolved to the requested platform. As a destination, REF names the image
(``ref.name`` for OCI layouts, the RepoTag for Docker archives); without it the
image's own name is used.

Reading and writing archives is ``freight.archive``'s work; this module picks
images, and a copy (``freight.image.copy``) moves each between an archive and
the store. Pulled images keep their manifest bytes, and every blob is checked
against its digest before it is stored.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from pathlib import Path

from freight.archive.atomic import write_atomic
from freight.archive.imagesource import ArchiveSource, layout_image
from freight.archive.model import ArchiveImage
from freight.archive.oci_layout import IMAGE_NAME, INDEX, REF_NAME, names_from
from freight.archive.reader import Archive, read_docker_archive, read_oci_layout
from freight.archive.save import select_images, write_archive, write_oci_layout
from freight.errors import FreightError, NotFound
from freight.image import reference
from freight.image.copy import Quiet, copy
from freight.record import replace
from freight.registry.progress import Reporter
from freight.registry.transportref import split
from freight.store.images import Image
from freight.store.imagesource import StoreDestination
from freight.store.store import Store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any, BinaryIO


# -- pulling from archives --------------------------------------------------


def pull_archive(store: Store, text: str, platform: dict[str, str], progress: Reporter) -> Image:
    """Bring the image an archive transport reference names into the store (``platform``: the
    one to take from an index): a copy (``freight.image.copy``) from the archive into the store."""
    transport, path, ref = split(text)
    progress.message(f"Getting image source signatures from {transport}:{path}")
    with store.writing():
        if transport == "docker-archive":
            with read_docker_archive(path, store.blobs.tmp_dir) as archive:
                chosen = _docker_image(archive, ref)
                archive.verify()
                dest = StoreDestination(store, [str(name) for name in chosen.names])
                copy(ArchiveSource.of(archive.source, chosen), dest, Quiet())
        else:
            with read_oci_layout(path, store.blobs.tmp_dir) as archive:
                desc = _index_entry(json.loads(archive.source.read(INDEX)), ref)
                dest = StoreDestination(store, [str(name) for name in names_from(desc.get("annotations") or {})])
                copy(layout_image(archive.source, desc, platform), dest, Quiet())
    image = dest.image
    assert image is not None  # the copy finished
    progress.message(f"Loaded image: {image.repo_tags[0] if image.repo_tags else image.id}")
    return image


def _docker_image(archive: Archive, ref: str | None) -> ArchiveImage:
    images = archive.images
    if ref:
        wanted = reference.parse(ref)
        images = [i for i in images if wanted in i.names]
        if not images:
            raise NotFound(f"no image named {ref} in the archive")
    elif len(images) != 1:
        raise FreightError(f"the archive holds {len(images)} images: name one as docker-archive:FILE:REF")
    return images[0]


def _index_entry(index: dict[str, Any], ref: str | None) -> dict[str, Any]:
    entries: list[dict[str, Any]] = index.get("manifests") or []
    if ref is None:
        if len(entries) != 1:
            raise FreightError(f"the layout holds {len(entries)} images: name one as oci:DIR:REF")
        return entries[0]
    for entry in entries:
        notes = entry.get("annotations") or {}
        if ref in (notes.get(REF_NAME), notes.get(IMAGE_NAME)):
            return entry
    raise NotFound(f"no descriptor found for reference \"{ref}\"")


# -- pushing to archives ----------------------------------------------------


def push_archive(store: Store, source: str, text: str, progress: Reporter) -> str:
    """Write local image ``source`` to an archive destination; return its manifest digest."""
    transport, path, ref = split(text)
    selections = select_images(store, [source])[:1]
    image = selections[0].image
    progress.message(f"Writing {image.id} to {transport}:{path}")
    if transport == "oci":
        write_oci_layout(store, [source] if ref is None else [image.id], path, ref_name=ref)
    elif transport == "oci-archive":
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            write_oci_layout(store, [source] if ref is None else [image.id], Path(tmp), ref_name=ref)
            write_atomic(path, lambda out: _tar_directory(Path(tmp), out))
    else:
        if ref is not None:
            selections = [replace(selections[0], refs=[reference.parse(ref)])]
        write_atomic(path, lambda out: write_archive(store, selections, out))
    return image.manifest_digest


def _tar_directory(directory: Path, out: BinaryIO) -> None:
    """A tar of a layout directory with fixed owners and times, entries in name order."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(directory.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(directory)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if path.is_file():
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
