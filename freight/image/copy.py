"""The copy routine: one image from any source (``freight.image.source``) to any destination.

``pull``, ``push``, ``save``, ``load`` and the archive transports are each a
:func:`copy` between a source (the store, a registry, an OCI layout, a Docker
archive) and a :class:`Destination` (the store, a registry, an OCI layout, a
Docker archive). The routine owns what they share: the progress display
(Docker's per-layer lines), moving the config and up to ``JOBS`` layers at a
time, and skipping what the destination already holds (``Destination.held``,
asked before anything moves: the store answers for a layer it holds under the
same blob or the same uncompressed digest, and Docker's ``Already exists`` is
printed). What differs is the destination's: how a layer goes in
(``put_layer``: a registry tries ``HEAD``, then a cross-repository mount, then
an upload; the store unpacks while it downloads), what follows each layer in
order (``settle``: the store's snapshots) and how the image is recorded
(``finish``: a manifest ``PUT``, an image record, an index entry). A layer the
destination keeps under another descriptor (pushed gzipped, held under another
blob) gives a manifest rewritten with that descriptor; otherwise the
manifest's exact bytes go over.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from freight.image.digest import short_id

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any, Protocol

    from freight.image.source import ImageSource, Layer

    class Progress(Protocol):
        """What shows a copy's progress (``freight.registry.progress.Reporter``)."""

        def message(self, text: str) -> None: ...
        def status(self, item: str, text: str, total: int | None = None) -> None: ...
        def advance(self, item: str, count: int) -> None: ...

JOBS = 3


class Quiet:
    """A progress display that shows nothing (``load`` and the archive transports print their own lines)."""

    def message(self, text: str) -> None:
        pass

    def status(self, item: str, text: str, total: int | None = None) -> None:
        pass

    def advance(self, item: str, count: int) -> None:
        pass


class Destination:
    """Where :func:`copy` puts an image; each method a step of the copy (see the module docstring)."""

    HELD = "Already exists"  # the status of a layer ``held`` found

    def begin(self, source: ImageSource, progress: Progress) -> None:
        """Before anything moves (a heading line)."""

    def item(self, layer: Layer) -> str:
        """The name a layer goes by on the progress display."""
        return short_id(layer.digest)

    def announce(self, layer: Layer, progress: Progress, item: str) -> None:
        """Called for each layer, top first, before any moves (push's ``Preparing``)."""

    def held_config(self, descriptor: dict[str, Any]) -> bytes | None:
        """The config's bytes, if the destination holds them (then the source need not send them)."""
        return None

    def held(self, layer: Layer) -> dict[str, Any] | None:
        """The descriptor under which the destination already holds ``layer``, if it does (cheap)."""
        return None

    def starting(self, layer: Layer, progress: Progress, item: str) -> None:
        """A layer is about to move (pull's ``Pulling fs layer``)."""

    def put_layer(self, index: int, layer: Layer, progress: Progress, item: str) -> tuple[dict[str, Any], str | None]:
        """Move the ``index``-th layer (on a worker thread): the descriptor it is kept under, and its final status."""
        raise NotImplementedError

    def settle(self, index: int, layer: Layer, placed: dict[str, Any], progress: Progress, item: str,
               moved: bool) -> None:
        """After the ``index``-th layer and those below it arrived, bottom first (``moved``: it was not held)."""

    def put_config(self, source: ImageSource) -> None:
        raise NotImplementedError

    def finish(self, source: ImageSource, manifest: bytes, digest: str, media_type: str) -> str:
        """Record the image under this manifest; return the digest it is known by there."""
        raise NotImplementedError


def copy(source: ImageSource, dest: Destination, progress: Progress, jobs: int = JOBS) -> str:
    """Copy the image ``source`` into ``dest``; return what ``dest.finish`` returns."""
    if (config_bytes := dest.held_config(source.config_descriptor)) is not None:
        source.known_config(config_bytes)
    layers = source.layers()
    dest.begin(source, progress)
    items = [dest.item(layer) for layer in layers]
    for layer, item in zip(reversed(layers), reversed(items)):
        dest.announce(layer, progress, item)
    placed: list[dict[str, Any] | None] = [None] * len(layers)
    moving: dict[str, Future[dict[str, Any]]] = {}
    with ThreadPoolExecutor(jobs) as pool:
        try:
            config = pool.submit(dest.put_config, source)
            for i, (layer, item) in enumerate(zip(layers, items)):
                placed[i] = dest.held(layer)
                if placed[i] is not None:
                    progress.status(item, dest.HELD)
                elif layer.digest not in moving:
                    dest.starting(layer, progress, item)
                    moving[layer.digest] = pool.submit(_put, dest, i, layer, progress, item)
            for i, (layer, item) in enumerate(zip(layers, items)):
                future = moving.get(layer.digest) if placed[i] is None else None
                if future is not None:
                    placed[i] = future.result()
                desc = placed[i]
                assert desc is not None  # held, or moved
                dest.settle(i, layer, desc, progress, item, future is not None)
            for future in moving.values():
                future.result()
            config.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
    return dest.finish(source, *_manifest(source, [d for d in placed if d is not None]))


def _put(dest: Destination, index: int, layer: Layer, progress: Progress, item: str) -> dict[str, Any]:
    desc, status = dest.put_layer(index, layer, progress, item)
    if status is not None:
        progress.status(item, status)
    return desc


def _manifest(source: ImageSource, layers: list[dict[str, Any]]) -> tuple[bytes, str, str]:
    """The manifest for the destination (bytes, digest, media type): the source's own bytes
    unless a layer is kept under another descriptor there."""
    if layers == [layer.descriptor for layer in source.layers()]:
        return source.raw_manifest, source.digest, source.media_type
    from freight.image.canonical import canonical_json
    from freight.image.digest import sha256_bytes

    data = canonical_json({**source.manifest, "layers": layers})
    return data, sha256_bytes(data), source.media_type
