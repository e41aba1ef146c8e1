"""``build --check``: build again, without any cache, in separate state, and compare.

The second build runs in a new store of its own (in the first store's temporary
directory, removed afterwards) that holds only copies of the images the first build
read (its base images and ``COPY --from`` images, by ID, with their names; their
unpacked snapshots are links to the first store's, which the second build only reads):
no layer, snapshot, cache entry or ``RUN --mount=type=cache`` directory the first build
made can stand in for the second's work. Equal image IDs mean the build is reproducible;
otherwise ``differences`` explains how the two images differ: config fields first, then
layer by layer the paths added, removed or changed (``freight.store.imagediff``, which
``freight image diff`` uses too).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from freight.builder.engine import build
from freight.builder.state import BuildError, BuildOptions, BuildResult
from freight.record import Record, replace
from freight.store.compression import media_type_compression
from freight.store.imagediff import diff_images
from freight.store.imagesource import StoreImage
from freight.store.store import Store, open_store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store.images import Image


class CheckResult(Record):
    first: str          # the image ID of the build
    second: str         # the image ID of the build without cache, in separate state
    differences: list[str]

    @property
    def same(self) -> bool:
        return self.first == self.second


def check(store: Store, opts: BuildOptions, first: BuildResult) -> CheckResult:
    """Build ``opts`` again as the module docstring says and compare with ``first``."""
    if opts.stdin is not None:
        raise BuildError("--check reads the context twice: it cannot take it from stdin")
    root = Path(store.scratch_dir, "check")
    try:
        other = open_store(root)
        for image_id in first.images:
            _copy_image(store, other, store.resolve_image(image_id))
        second = build(other, replace(opts, no_cache=True, pull=False, tags=[], outputs=[], cache_from=[],
                                     provenance=False))
        lines = [] if second.image_id == first.image_id else differences(
            store, store.resolve_image(first.image_id), other, other.resolve_image(second.image_id))
        return CheckResult(first.image_id, second.image_id, lines)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _copy_image(src: Store, dst: Store, img: Image) -> None:
    """``img`` (its blobs, ID and names) into ``dst``. Its snapshots are not unpacked again:
    ``dst``'s are links to ``src``'s (the check's build reads them as lower layers only)."""
    for chain, path in zip(img.chain_ids, src.layer_dirs(img)):
        if not dst.snapshots.path(chain).exists():
            os.symlink(path, dst.snapshots.path(chain))
    for desc in [img.manifest["config"], *img.layers]:
        plain = desc is not img.manifest["config"] and media_type_compression(desc["mediaType"]) == "none"
        with src.blobs.open(desc["digest"]) as stream:
            dst.blobs.ingest(stream, desc["digest"], encode=plain)
    dst.blobs.put(src.blobs.read(img.manifest_digest), img.manifest_digest)
    with dst.writing():
        dst.add_image(img.manifest_digest, img.repo_tags)
        for name in img.repo_digests:  # a lock file's pinned references find it by these
            dst.add_image(img.manifest_digest, repo_digest=name, unpack=False)


def differences(store_a: Store, a: Image, store_b: Store, b: Image) -> list[str]:
    """How image ``b`` differs from ``a`` (``freight.store.imagediff``), as lines of text."""
    return diff_images(StoreImage(store_a, a), StoreImage(store_b, b)).lines()
