"""``freight pull``: fetch an image from a registry (or an archive) into the store.

The library entry points are ``pull(store, ref)`` and ``ensure_image(store, ref)``
(resolve locally, else pull, as ``docker run`` and ``FROM`` do). A pull asks
for the manifest by tag or digest, picks the platform from an index, fetches
the config and the layers (three at a time) it does not have, unpacking each
layer into its snapshot while it downloads (a snapshot becomes visible only
once its blob matched its digest), keeps the manifest bytes exactly as
received, and records the image only when every blob is in the store and
verified: a failure leaves no image, only verified blobs (and snapshots) that
the next pull reuses or garbage collection removes.
"""

from __future__ import annotations

import functools
import json
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress

from freight.errors import LayerError, NotFound
from freight.image import platform as platforms
from freight.image import reference
from freight.image.digest import chain_ids, short_id
from freight.image.mediatypes import INDEXES, MANIFESTS
from freight.registry.blobstream import Abandoned, BlobStream, beside
from freight.registry.client import Registry
from freight.registry.connections import RegistryError
from freight.registry.progress import Lines, Reporter
from freight.registry.transportref import is_transport
from freight.store.compression import media_type_compression
from freight.store.images import Image
from freight.store.store import Store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from freight.registry.auth import Credentials

JOBS = 3


def pull(store: Store, ref: str, platform: str | dict[str, str] | None = None,
         progress: Reporter | None = None, credentials: Credentials | None = None) -> Image:
    """Pull ``ref`` (``busybox``, ``host:5000/app@sha256:...``, ``oci:DIR:tag``...) into ``store``
    (``credentials``: these, not the stored ones, as the API's ``X-Registry-Auth`` gives them)."""
    progress = progress or Reporter()
    if is_transport(ref):
        from freight.registry.transports import pull_archive  # loads the archive code: only for archives

        return pull_archive(store, ref, platforms.resolve(platform), progress)
    parsed = reference.parse(ref)
    with Registry(parsed.domain, credentials) as registry:
        return _pull(store, registry, parsed, platforms.resolve(platform), progress)


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
    data, media_type, digest = registry.get_manifest(ref.path, ref.digest or ref.tag or "latest")
    top = digest
    if media_type in INDEXES:
        entry = platforms.choose_manifest(json.loads(data), wanted)
        data, media_type, digest = registry.get_manifest(ref.path, entry["digest"])
    manifest = json.loads(data)
    if manifest.get("schemaVersion") != 2 or media_type not in MANIFESTS | {None, ""} \
            or "config" not in manifest:
        raise RegistryError(f"unsupported manifest format for {ref.familiar()}: {media_type}")
    progress.message(f"{ref.digest or ref.tag}: Pulling from {ref.path}")
    tags = [str(ref)] if ref.tag and not ref.digest else []
    before = store.images.lookup(str(ref)) if tags else None
    with store.writing():
        fetch_blobs(store, registry, ref.path, manifest, progress)
        store.blobs.put(data, expected=digest)
        image = store.add_image(digest, tags=tags, repo_digest=f"{ref.repository}@{top}")
    progress.message(f"Digest: {top}")
    fresh = before is None or before.id != image.id
    progress.message(f"Status: {'Downloaded newer image for' if fresh else 'Image is up to date for'} "
                     f"{ref.familiar()}")
    return image


def fetch_blobs(store: Store, registry: Registry, repo: str, manifest: dict[str, Any],
                progress: Reporter) -> None:
    """Download the config and the layers the store lacks, ``JOBS`` at a time.

    Each layer is unpacked into its snapshot while it downloads, as its bytes
    arrive (see ``_fetch_layer``). Layers whose blob was already here, or whose
    streamed unpack had to be abandoned, are unpacked from the blob afterwards.
    """
    config = manifest["config"]
    if not store.blobs.has(config["digest"]):
        registry.download_blob(repo, config["digest"], config.get("size"), store.blobs)
    layers = manifest.get("layers") or []
    diff_ids = json.loads(store.blobs.read(config["digest"])).get("rootfs", {}).get("diff_ids") or []
    chain = _chain(layers, diff_ids)
    with ThreadPoolExecutor(JOBS) as pool:
        pending: dict[str, Future[None]] = {}
        for i, layer in enumerate(layers):
            item = short_id(layer["digest"])
            if store.blobs.has(layer["digest"]):
                progress.status(item, "Already exists")
            elif layer["digest"] not in pending:
                progress.status(item, "Pulling fs layer", layer.get("size"))
                pending[layer["digest"]] = pool.submit(_fetch_layer, store, registry, repo, layer,
                                                       chain[i][1:] if chain else None, progress)
        try:
            for layer, chain_id, parent, diff_id in chain:
                if (future := pending.get(layer["digest"])) is not None:
                    future.result()
                store.snapshots.unpack(chain_id, parent, diff_id,
                                       functools.partial(store.blobs.open, layer["digest"]))
                if future is not None:
                    progress.status(short_id(layer["digest"]), "Pull complete")
            for future in pending.values():
                future.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def _chain(layers: list[dict[str, Any]], diff_ids: list[str]) -> list[tuple[dict[str, Any], str, str | None, str]]:
    """(layer, chain ID, parent chain ID, diff_id) bottom first; empty when the config disagrees."""
    if len(layers) != len(diff_ids):
        return []  # add_image reports the mismatch
    chains = chain_ids(diff_ids)
    return [(layer, chain, chains[i - 1] if i else None, diff_id)
            for i, (layer, chain, diff_id) in enumerate(zip(layers, chains, diff_ids))]


def _fetch_layer(store: Store, registry: Registry, repo: str, layer: dict[str, Any],
                 snapshot: tuple[str, str | None, str] | None, progress: Reporter) -> None:
    """Download a layer's blob and, at the same time, unpack it as ``snapshot`` (chain, parent, diff_id).

    The snapshot becomes visible only after the blob matched its digest
    (``Snapshots.unpack_stream`` reads to the stream's end, which the download
    gives only then). A download that broke off and resumed with Range keeps
    streaming; one that had to start over abandons the streamed unpack (its
    temporary directory goes) and leaves the layer for ``fetch_blobs`` to
    unpack from the blob.
    """
    item = short_id(layer["digest"])
    progress.status(item, "Downloading", layer.get("size"))
    unpacked: Callable[[], None] = lambda: None  # noqa: E731
    stream = None
    if snapshot is not None and not store.snapshots.exists(snapshot[0]):
        stream = BlobStream()
        unpacked = beside(lambda: _unpack_stream(store, snapshot, stream))
    try:
        registry.download_blob(repo, layer["digest"], layer.get("size"), store.blobs,
                               lambda n: progress.advance(item, n), stream, _uncompressed(layer))
    except BaseException:
        if stream is not None:
            stream.abandon()  # in case the download failed before it could
        with suppress(Exception):  # the download's failure is the one to report
            unpacked()
        raise
    unpacked()
    progress.status(item, "Download complete")


def _uncompressed(layer: dict[str, Any]) -> bool:
    """Whether a layer's descriptor says it is a plain tar (which the store keeps encoded)."""
    try:
        return media_type_compression(str(layer.get("mediaType", ""))) == "none"
    except LayerError:
        return False


def _unpack_stream(store: Store, snapshot: tuple[str, str | None, str], stream: BlobStream) -> None:
    """Unpack a layer from ``stream``; an abandoned stream is no failure (the blob is unpacked later)."""
    with stream:
        try:
            store.snapshots.unpack_stream(*snapshot, stream)
        except Abandoned:
            pass

