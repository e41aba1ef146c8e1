"""Any image freight can name, as an image source (``freight.image.source``).

``open_image`` takes what ``freight image diff`` takes for either side: a local image
(name or ID), an archive transport (``oci:DIR[:REF]``, ``oci-archive:FILE[:REF]``,
``docker-archive:FILE[:REF]``, picked as ``pull`` picks them) or, when no local image
has the name, a registry reference. Nothing is copied into the store: the source's
blobs are read, verified, as they are needed.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

from freight.archive.imagesource import ArchiveSource, layout_image
from freight.archive.oci_layout import INDEX
from freight.archive.reader import read_docker_archive, read_oci_layout
from freight.errors import NotFound
from freight.image import reference
from freight.registry.client import Registry
from freight.registry.remote import remote_image
from freight.registry.transportref import is_transport, split
from freight.registry.transports import docker_image, index_entry
from freight.store.imagesource import StoreImage

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Iterator

    from freight.image.source import ImageSource
    from freight.store.store import Store


@contextmanager
def open_image(store: Store, text: str, platform: dict[str, str]) -> Iterator[ImageSource]:
    """The image ``text`` names, readable while the context lasts (``platform``: the one
    to take from an index)."""
    if is_transport(text):
        transport, path, ref = split(text)
        if transport == "docker-archive":
            with read_docker_archive(path, store.blobs.tmp_dir) as archive:
                yield ArchiveSource.of(archive.source, docker_image(archive, ref))
        else:
            with read_oci_layout(path, store.blobs.tmp_dir) as archive:
                yield layout_image(archive.source, index_entry(json.loads(archive.source.read(INDEX)), ref), platform)
        return
    try:
        image = store.resolve_image(text)
    except NotFound:
        pass
    else:
        yield StoreImage(store, image)
        return
    parsed = reference.parse(text)
    with Registry(parsed.domain) as registry:
        registry.ping()
        yield remote_image(registry, parsed, platform)[0]
