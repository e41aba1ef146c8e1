"""A container's changes to its image: ``docker diff`` (what its overlay upper dir holds,
as A/C/D) and ``docker export`` (its whole filesystem, image and changes, as one tar)."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from freight.runtime import syscalls as sc
from freight.runtime.containers import get
from freight.runtime.events import container_event
from freight.runtime.rootfs import mount_snapshot
from freight.store.layerwrite import write_layer
from freight.store.tarformat import FUSE_OPAQUE_WHITEOUT, OPAQUE_MARKER

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

    from freight.runtime.records import Container
    from freight.store import Store

_OPAQUE = "trusted.overlay.opaque"
_FUSE_MARKERS = (OPAQUE_MARKER, FUSE_OPAQUE_WHITEOUT)


def _lowers(store: Store, c: Container) -> list[str]:
    """The image's layer dirs, top first (an overlay's ``lowerdir`` order)."""
    return [str(p) for p in reversed(store.layer_dirs(store.resolve_image(c.image_id)))]


def _in_lowers(lowers: list[str], rel: str) -> bool:
    for lower in lowers:
        try:
            st = os.lstat(os.path.join(lower, rel))
        except (FileNotFoundError, NotADirectoryError):
            continue
        return not _is_whiteout(st)
    return False


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def diff(store: Store, ref: str) -> list[tuple[str, str]]:
    """``docker diff``: (kind, path) sorted by path; kind A (added), C (changed), D (deleted)."""
    c = get(store, ref)
    upper = f"{c.directory(store)}/upper"
    lowers = _lowers(store, c)
    changes = []
    for root, dirs, files in os.walk(upper):
        rel_root = os.path.relpath(root, upper)
        for name in dirs + files:
            rel = os.path.normpath(os.path.join(rel_root, name))
            if "/" + rel in HOST_FILES:
                continue
            if name in _FUSE_MARKERS:  # fuse-overlayfs's opaque directory markers: no change of their own
                continue
            st = os.lstat(os.path.join(root, name))
            if _is_whiteout(st):
                changes.append(("D", "/" + rel))
            else:
                changes.append(("C" if _in_lowers(lowers, rel) else "A", "/" + rel))
    paths = [path for _, path in changes]
    return sorted((c for c in changes if c[0] != "C" or not _only_host_files(upper, c[1], paths)),
                  key=lambda change: change[1])


# The mount points of the files freight writes for each container: Docker keeps them in a
# layer of their own ("-init"), which no diff shows.
HOST_FILES = frozenset({"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"})


def _only_host_files(upper: str, path: str, paths: list[str]) -> bool:
    """Whether directory ``path`` is in the upper dir only to hold the host files' mount points."""
    if not os.path.isdir(upper + path) or any(p.startswith(path + "/") for p in paths):
        return False
    return any(f.startswith(path + "/") for f in HOST_FILES)


@contextlib.contextmanager
def merged_view(store: Store, c: Container) -> Iterator[str]:
    """A read-only overlay of the container's files (its upper dir over its image's layers),
    without its volumes or the kernel's filesystems: what ``export`` archives."""
    directory = c.directory(store)
    image = store.resolve_image(c.image_id)
    store.layer_dirs(image)  # unpacks any layer that is missing
    target = f"{directory}/export.{os.getpid()}"
    os.makedirs(target, exist_ok=True)
    try:
        for m in store.snapshots.view_over(f"{directory}/upper", image.chain_ids):
            mount_snapshot(m, target)
        try:
            yield target
        finally:
            sc.umount2(target, sc.MNT_DETACH)
    finally:
        os.rmdir(target)


def export(store: Store, ref: str, out: BinaryIO) -> None:
    """``docker export``: the container's filesystem as a tar on ``out``."""
    c = get(store, ref)
    with merged_view(store, c) as root:
        write_layer(Path(root), out)
    container_event(store, c, "export")
