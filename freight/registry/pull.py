"""``freight pull``: fetch an image from a registry (or an archive) into the store.

The library entry points are ``pull(store, ref)`` and ``ensure_image(store, ref)``
(resolve locally, else pull, as ``docker run`` and ``FROM`` do). A pull is a
copy (``freight.image.copy``) from the registry's image
(``freight.registry.remote``: the manifest by tag or digest, the platform's
from an index) into the store (``freight.store.imagesource.StoreDestination``:
layers the store holds are not fetched, the others three at a time, each
unpacked into its snapshot while it downloads; the image is recorded only when
every blob is in the store and verified). The manifest bytes are kept exactly
as received, unless a layer was reused from another blob of the same
uncompressed digest.
"""

from __future__ import annotations

import sys

from freight.errors import NotFound
from freight.image import platform as platforms
from freight.image import reference
from freight.image.copy import copy
from freight.registry.client import Registry
from freight.registry.progress import Lines, Reporter
from freight.registry.remote import remote_image
from freight.registry.transportref import is_transport
from freight.store import events
from freight.store.images import Image
from freight.store.imagesource import StoreDestination
from freight.store.store import Store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.registry.auth import Credentials


def pull(store: Store, ref: str, platform: str | dict[str, str] | None = None,
         progress: Reporter | None = None, credentials: Credentials | None = None) -> Image:
    """Pull ``ref`` (``busybox``, ``host:5000/app@sha256:...``, ``oci:DIR:tag``...) into ``store``
    (``credentials``: these, not the stored ones, as the API's ``X-Registry-Auth`` gives them)."""
    progress = progress or Reporter()
    if is_transport(ref):
        from freight.registry.transports import pull_archive  # loads the archive code: only for archives

        image = pull_archive(store, ref, platforms.resolve(platform), progress)
    else:
        parsed = reference.parse(ref)
        with Registry(parsed.domain, credentials) as registry:
            image = _pull(store, registry, parsed, platforms.resolve(platform), progress)
        ref = str(parsed)
    events.emit(store.root_path, "image", "pull", ref, {"name": ref})
    return image


def ensure_image(store: Store, ref: str, platform: str | dict[str, str] | None = None,
                 progress: Reporter | None = None) -> Image:
    """The local image ``ref``, pulled first when missing (Docker's ``--pull missing``).

    By default the pull reports on stderr after Docker's
    ``Unable to find image 'busybox:latest' locally``.
    """
    try:
        return store.resolve_image(ref)
    except NotFound:
        pass
    parsed = reference.parse(ref)
    if progress is None:
        sys.stderr.write(f"Unable to find image '{parsed.familiar()}' locally\n")
        progress = Lines(sys.stderr)
    return pull(store, ref, platform, progress)


def _pull(store: Store, registry: Registry, ref: reference.Reference, wanted: dict[str, str],
          progress: Reporter) -> Image:
    registry.ping()
    source, top = remote_image(registry, ref, wanted)
    progress.message(f"{ref.digest or ref.tag}: Pulling from {ref.path}")
    tags = [str(ref)] if ref.tag and not ref.digest else []
    before = store.images.lookup(str(ref)) if tags else None
    dest = StoreDestination(store, tags, f"{ref.repository}@{top}", reuse=True)
    with store.writing():
        copy(source, dest, progress)
    assert dest.image is not None  # the copy finished
    progress.message(f"Digest: {top}")
    fresh = before is None or before.id != dest.image.id
    progress.message(f"Status: {'Downloaded newer image for' if fresh else 'Image is up to date for'} "
                     f"{ref.familiar()}")
    return dest.image
