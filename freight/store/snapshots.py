"""Unpacked layer chains, ready to be stacked as overlayfs lower dirs.

A snapshot holds one layer's own files, with whiteouts in overlayfs form, and
is keyed by the chain ID of the layer stack it ends. Its directory is named by
the first 12 hex digits of that chain ID, so an overlay mount made from inside
the snapshots directory with relative lower dirs stays far below the kernel's
one-page limit on mount options even for images of 128 layers. A snapshot is
unpacked into a temporary directory (in the unpacking process's own temporary
space, ``freight.store.scratch``) and renamed into place, so a directory that
exists is complete, and two processes unpacking the same chain both succeed.

As containerd's snapshotters do, the store hands out mounts rather than
directories: ``prepare`` gives the overlay mount of a chain with an active
(writable) snapshot's upper and work dirs, ``view`` a read-only mount of a
chain, ``commit`` turns a filled upper dir into a new snapshot and ``remove``
deletes one. So this is the one module that writes overlay options (and knows
that overlayfs wants at least one lower dir, and one page of options at most).
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

from freight.errors import DigestMismatch
from freight.image.digest import hex_of, new_sha256
from freight.record import Record
from freight.settings import FUSE_OVERLAYFS, PRIVATE, rootless, storage_driver
from freight.store import scratch
from freight.store.db import transaction
from freight.store.tarformat import FUSE_OPAQUE_WHITEOUT, FUSE_OPAQUE_XATTR, OPAQUE_MARKER, opaque_xattr

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

    from freight.store.streams import Reader

NAME_LEN = 12
EMPTY = "empty"  # the lower dir of a chain of no layers (not a snapshot: its name is not NAME_LEN long)
_CHUNK = 1 << 20


class SnapshotMount(Record):
    """One mount, as mount(2) takes it: ``type`` ("overlay" or "bind"), ``source`` and
    ``options`` (an overlay's data options; for a bind, "rbind" and "ro" when read-only); or
    the type "fuse-overlayfs": the same options for that program (see runtime/fuseoverlay.py).
    Relative paths in the options are relative to ``cwd``, where the mounting process must be
    when it mounts: that keeps a 128-layer overlay's options far below the kernel's one page."""

    type: str
    source: str
    options: tuple[str, ...] = ()
    cwd: str = ""

    @property
    def readonly(self) -> bool:
        return "ro" in self.options

    @property
    def data(self) -> str:
        """The options as mount(2)'s data argument (for an overlay)."""
        return ",".join(self.options)


def _rmtree(path: Path | str, ignore_errors: bool = False) -> None:
    import shutil  # heavy: only removals need it

    shutil.rmtree(path, ignore_errors=ignore_errors)


def _in_lowers(lowers: list[Path], rel: str) -> bool:
    """Whether the topmost of ``lowers`` that has ``rel`` has it as more than a whiteout."""
    for lower in lowers:
        try:
            st = os.lstat(lower / rel)
        except (FileNotFoundError, NotADirectoryError):
            continue
        return not (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0)
    return False


class _HashingReader:
    """A read stream that hashes what passes through it."""

    def __init__(self, inner: Reader) -> None:
        self._inner = inner
        self._hash = new_sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._hash.update(data)
        return data

    def finish(self) -> str:
        """Read what the consumer left (tar padding) and return the digest of it all."""
        while self.read(1 << 20):
            pass
        return "sha256:" + self._hash.hexdigest()


class Snapshots:
    def __init__(self, root: Path, db: sqlite3.Connection) -> None:
        self.dir = root / "snapshots"
        self.dir.mkdir(PRIVATE, parents=True, exist_ok=True)
        self._root = root
        self._db = db
        self._lock = threading.Lock()  # one connection: snapshot records from several threads

    def name(self, chain_id: str) -> str:
        """Directory name of a snapshot, relative to ``self.dir``."""
        return hex_of(chain_id)[:NAME_LEN]

    def path(self, chain_id: str) -> Path:
        return self.dir / self.name(chain_id)

    def exists(self, chain_id: str) -> bool:
        return self.path(chain_id).is_dir()

    def size(self, chain_id: str) -> int:
        row = self._db.execute("SELECT size FROM snapshots WHERE chain_id = ?", (chain_id,)).fetchone()
        return row[0] if row else 0

    def unpack(self, chain_id: str, parent: str | None, diff_id: str,
               open_layer: Callable[[], BinaryIO]) -> None:
        """Make the snapshot for ``chain_id`` from a layer, unless it is there already.

        The uncompressed stream is hashed as it is applied and must be
        ``diff_id``: a snapshot is shared by every image with the same chain,
        so a layer must never become visible under a diff_id it does not have.
        """
        if self.exists(chain_id):
            self._record(chain_id, parent, diff_id, None)
            return
        with open_layer() as raw:
            self.unpack_stream(chain_id, parent, diff_id, raw)

    def unpack_stream(self, chain_id: str, parent: str | None, diff_id: str, stream: Reader) -> None:
        """``unpack`` from a stream of the (compressed or plain) layer, e.g. one still downloading.

        ``stream`` is read to its very end before the snapshot becomes
        visible, so a producer that verifies the bytes (a download checked
        against its blob digest) and only then ends the stream, or raises from
        ``read`` when the check fails, keeps an unverified layer from ever
        being installed. Safe to call from several threads at once.
        """
        if self.exists(chain_id):
            self._record(chain_id, parent, diff_id, None)
            return
        # Only an unpack needs these: ``run`` of an image that is unpacked loads none of them.
        from freight.store.compression import open_layer as decompress
        from freight.store.layerapply import apply_layer

        tmp = self._temporary("unpack-")
        try:
            with decompress(stream) as tar:
                hashed = _HashingReader(tar)
                size = apply_layer(hashed, tmp, overlay=True)
                got = hashed.finish()
            if got != diff_id:
                raise DigestMismatch(f"layer content {got} does not match the image configuration,"
                                     f" which says {diff_id}")
            while stream.read(_CHUNK):  # anything after the compressed data: the end vouches for it
                pass
            self._install(tmp, chain_id)
        finally:
            if tmp.exists():
                _rmtree(tmp)
        self._record(chain_id, parent, diff_id, size)

    # -- mounts (containerd's Prepare, View, Commit) ---------------------

    def prepare(self, key: str, chain: list[str]) -> list[SnapshotMount]:
        """The mounts of an active snapshot over ``chain`` (chain IDs, bottom layer first): its
        writable upper and work dirs are ``key``'s ``upper`` and ``work`` (made when missing),
        its lower dirs the chain's snapshots, or one empty dir for a chain of none (overlayfs
        wants at least one)."""
        for sub, mode in (("upper", 0o755), ("work", 0o700)):
            os.makedirs(f"{key}/{sub}", mode, exist_ok=True)
        lowers = [self.name(c) for c in reversed(chain)] or [self._empty()]
        return [self._overlay(f"lowerdir={':'.join(lowers)}", f"upperdir={key}/upper", f"workdir={key}/work")]

    def view(self, chain: list[str]) -> list[SnapshotMount]:
        """Read-only mounts of ``chain``: a bind of its one snapshot (or of the empty dir), an
        overlay of its snapshots without an upper dir when there are several."""
        if len(chain) <= 1:
            source = os.fspath(self.path(chain[0])) if chain else os.fspath(self.dir / self._empty())
            return [SnapshotMount("bind", source, ("rbind", "ro"))]
        return [self._overlay(f"lowerdir={':'.join(self.name(c) for c in reversed(chain))}")]

    def view_over(self, top: str, chain: list[str]) -> list[SnapshotMount]:
        """A read-only overlay of the directory ``top`` (absolute: a container's upper dir,
        whiteouts and all) over ``chain``'s snapshots: what ``export`` archives."""
        lowers = ":".join([top, *(self.name(c) for c in reversed(chain))] if chain else [top, self._empty()])
        if storage_driver() == FUSE_OVERLAYFS:
            return [self._overlay(f"lowerdir={lowers}")]
        return [SnapshotMount("overlay", "overlay", (f"lowerdir={lowers}",), os.fspath(self.dir))]

    def _overlay(self, *options: str) -> SnapshotMount:
        """An overlay mount of ``options`` (relative to the snapshots dir): the kernel's, with
        ``userxattr`` in a user namespace (trusted.* xattrs are root's alone), or fuse-overlayfs
        (``settings.storage_driver``), which reads both kinds of opaque xattr itself."""
        if storage_driver() == FUSE_OVERLAYFS:
            return SnapshotMount(FUSE_OVERLAYFS, FUSE_OVERLAYFS, options, os.fspath(self.dir))
        userxattr = ("userxattr",) if rootless() else ()
        return SnapshotMount("overlay", "overlay", (*options, *userxattr), os.fspath(self.dir))

    def commit(self, name: str, upper: Path, parent: str | None, diff_id: str, size: int) -> None:
        """Make ``upper``, a filled upper dir (an active snapshot's, or a layer unpacked by other
        means), the snapshot of chain ID ``name``: it is moved, not copied (and removed when that
        snapshot exists already)."""
        if self.exists(name):
            _rmtree(upper)
        else:
            self._install(upper, name)
        self._record(name, parent, diff_id, size)

    def settle_upper(self, upper: Path, chain: list[str]) -> None:
        """An upper dir that fuse-overlayfs filled over ``chain`` (chain IDs, bottom first), in
        the kernel overlay's form before it becomes a layer and a snapshot: its opaque marks
        (files and its own xattr, see ``tarformat``) become the overlay's xattr, which
        fuse-overlayfs reads too, where the directory hides a lower entry, and go where it
        hides none (fuse-overlayfs marks every new directory; the kernel only one that
        replaces a deleted entry). So the layer's
        digest and the snapshot are those the kernel's overlay gives. Directory times are kept."""
        if storage_driver() != FUSE_OVERLAYFS:
            return
        lowers = [self.path(c) for c in reversed(chain)]
        for root, _dirs, files in os.walk(upper):
            marked = FUSE_OPAQUE_XATTR in os.listxattr(root, follow_symlinks=False)
            if not marked and OPAQUE_MARKER not in files:
                continue
            st = os.lstat(root)
            for name in (OPAQUE_MARKER, FUSE_OPAQUE_WHITEOUT):
                if name in files:
                    os.unlink(os.path.join(root, name))
            if marked:
                os.removexattr(root, FUSE_OPAQUE_XATTR, follow_symlinks=False)
            if _in_lowers(lowers, os.path.relpath(root, upper)):
                os.setxattr(root, opaque_xattr(), b"y", follow_symlinks=False)
            os.utime(root, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    def _empty(self) -> str:
        os.makedirs(self.dir / EMPTY, 0o755, exist_ok=True)
        return EMPTY

    def remove(self, chain_id: str) -> None:
        path = self.path(chain_id)
        if path.exists():
            trash = self._temporary("remove-")
            os.replace(path, trash / "fs")
            _rmtree(trash)
        with transaction(self._db):
            self._db.execute("DELETE FROM snapshots WHERE chain_id = ?", (chain_id,))

    def names_on_disk(self) -> set[str]:
        return {e.name for e in os.scandir(self.dir) if len(e.name) == NAME_LEN}

    def remove_name(self, name: str) -> None:
        _rmtree(self.dir / name, ignore_errors=True)

    def _temporary(self, prefix: str) -> Path:
        """A new directory in this process's temporary space (``scratch``), on the same
        file system as the snapshots, so that it is renamed into place."""
        import tempfile  # heavy: only unpacks and removals need it

        return Path(tempfile.mkdtemp(prefix=prefix, dir=scratch.directory(os.fspath(self._root))))

    def _install(self, tmp: Path, chain_id: str) -> None:
        try:
            os.rename(tmp, self.path(chain_id))
        except OSError:
            if not self.exists(chain_id):
                raise  # another process did not win the race: a real failure

    def _record(self, chain_id: str, parent: str | None, diff_id: str, size: int | None) -> None:
        with self._lock, transaction(self._db):
            if size is None:
                self._db.execute(
                    "INSERT OR IGNORE INTO snapshots (chain_id, parent, diff_id, size) VALUES (?,?,?,0)",
                    (chain_id, parent, diff_id))
            else:
                self._db.execute(
                    "INSERT OR REPLACE INTO snapshots (chain_id, parent, diff_id, size) VALUES (?,?,?,?)",
                    (chain_id, parent, diff_id, size))
