"""``build --check``: build again, without any cache, in separate state, and compare.

The second build runs in a new store of its own (in the first store's temporary
directory, removed afterwards) that holds only copies of the images the first build
read (its base images and ``COPY --from`` images, by ID, with their names; their
unpacked snapshots are links to the first store's, which the second build only reads):
no layer, snapshot, cache entry or ``RUN --mount=type=cache`` directory the first build
made can stand in for the second's work. Equal image IDs mean the build is reproducible;
otherwise ``differences`` explains how the two images differ: config fields first, then
layer by layer the paths added, removed or changed (``freight.store.layerdiff``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from freight.builder.engine import build
from freight.builder.state import BuildError, BuildOptions, BuildResult
from freight.record import Record, replace
from freight.store.compression import media_type_compression, open_layer
from freight.store.layerdiff import compare, summarise
from freight.store.store import Store, open_store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

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
        second = build(other, replace(opts, no_cache=True, pull=False, tags=[], outputs=[], cache_from=[]))
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


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else key, out)
    else:
        out[prefix] = json.dumps(value, sort_keys=True)


def differences(store_a: Store, a: Image, store_b: Store, b: Image) -> list[str]:
    """How image ``b`` differs from ``a``: config fields, then each layer's paths."""
    fields_a: dict[str, str] = {}
    fields_b: dict[str, str] = {}
    skip = ("rootfs", "history")  # shown layer by layer below
    _flatten({k: v for k, v in a.config.items() if k not in skip}, "", fields_a)
    _flatten({k: v for k, v in b.config.items() if k not in skip}, "", fields_b)
    lines = [f"config {key}: {fields_a.get(key, '(none)')} != {fields_b.get(key, '(none)')}"
             for key in sorted(fields_a.keys() | fields_b.keys()) if fields_a.get(key) != fields_b.get(key)]
    history_a = [h for h in a.config.get("history") or [] if not h.get("empty_layer")]
    history_b = [h for h in b.config.get("history") or [] if not h.get("empty_layer")]
    for i, (old, new) in enumerate(zip(a.config.get("history") or [], b.config.get("history") or [])):
        if old != new:
            lines.append(f"history {i} ({old.get('created_by', '')}): {json.dumps(old, sort_keys=True)} != "
                         f"{json.dumps(new, sort_keys=True)}")
    for i in range(max(len(a.diff_ids), len(b.diff_ids))):
        old_id = a.diff_ids[i] if i < len(a.diff_ids) else None
        new_id = b.diff_ids[i] if i < len(b.diff_ids) else None
        if old_id == new_id:
            continue
        step = (history_b[i] if i < len(history_b) else history_a[i] if i < len(history_a) else {})
        lines.append(f"layer {i} ({step.get('created_by', '?')}): {old_id or '(none)'} != {new_id or '(none)'}")
        old = _summary(store_a, a, i)
        new = _summary(store_b, b, i)
        lines += ["  " + line for line in compare(old, new)]
    return lines


def _summary(store: Store, img: Image, index: int) -> dict[str, Any]:
    if index >= len(img.layers):
        return {}
    with store.blobs.open(img.layers[index]["digest"]) as raw, open_layer(raw) as tar:
        return summarise(tar)
