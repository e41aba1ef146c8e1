"""The files of an image archive: a tar stream, a tar file, or a directory.

Every file the archive's reader asks for is first copied to a private
temporary file (a "spool" file) and hashed there; verification reads only
those copies, and a blob that passes moves into the blob store by rename (a
plain layer tar is encoded into it instead, as the store keeps those). So
what is verified is exactly what is stored, and no layer is ever held in
memory.

* A tar stream (stdin, a compressed archive) is read in a single pass, every
  regular member spooled as it goes by: Docker archives promise no member
  order (``manifest.json`` may come last, after gigabytes of layers).
* A plain tar file is indexed first (headers only); a member is spooled with
  ``copy_file_range`` (in the kernel, no copy through Python) when asked for.
* A directory (an OCI image layout) is spooled the same way, file by file.

Member names are normalised (``./blobs/x`` and ``blobs/x`` are the same file),
and symbolic or hard links between members (legacy Docker archives link a
repeated ``layer.tar`` to its first copy) are followed.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tarfile
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from freight.errors import FreightError
from freight.record import Record
from freight.store.blobs import CHUNK, BlobStore
from freight.store.compression import GZIP_MAGIC, ZSTD_MAGIC

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import BinaryIO

    from freight.store.streams import Reader

METADATA_LIMIT = 64 << 20  # a manifest, config or index larger than this is not one
_MAX_LINKS = 16
SPOOL_PREFIX = "spool-"


class ArchiveError(FreightError):
    """An archive that is not a readable image archive (truncated, corrupt, incomplete)."""


class Entry(Record):
    """One file of an archive: where its bytes are, and their digest and size."""

    path: Path
    digest: str
    size: int


def clean_name(name: str) -> str:
    """An archive member name in canonical form: relative, no ``.`` parts, no trailing slash."""
    return posixpath.normpath("/" + name).lstrip("/")


def compression_of(path: Path) -> str:
    """``"gzip"``, ``"zstd"`` or ``"none"``, from the file's first bytes."""
    with open(path, "rb") as f:
        head = f.read(len(ZSTD_MAGIC))
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def hash_stream(stream: BinaryIO) -> tuple[str, int]:
    """The sha256 digest and length of everything left in ``stream``."""
    h = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return "sha256:" + h.hexdigest(), size


class Source:
    """Named files of an archive, spooled into ``spool_dir``. Subclasses say where they come from.

    Put ``spool_dir`` on the blob store's filesystem (its ``tmp`` dir) so that
    :meth:`take` is a rename.
    """

    def __init__(self, spool_dir: Path | None = None) -> None:
        self._dir = spool_dir
        self._entries: dict[str, Entry] = {}
        self._links: dict[str, str] = {}
        self._spooled: list[Path] = []
        self._syncs: dict[Path, Future[None]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def _spool_file(self) -> Path:
        """A new spool file, recorded at once so that close() removes it whatever happens."""
        fd, path = tempfile.mkstemp(dir=self._dir, prefix=SPOOL_PREFIX)
        os.close(fd)
        self._spooled.append(Path(path))
        return Path(path)

    def has(self, name: str) -> bool:
        try:
            self._resolve(clean_name(name))
        except ArchiveError:
            return False
        return True

    def entry(self, name: str) -> Entry:
        """The file called ``name``; raise ArchiveError if the archive lacks it."""
        return self._resolve(clean_name(name))

    def read(self, name: str) -> bytes:
        """The bytes of a small (metadata) file."""
        entry = self.entry(name)
        if entry.size > METADATA_LIMIT:
            raise ArchiveError(f"invalid archive: {name} is too large ({entry.size} bytes)")
        return entry.path.read_bytes()

    def open(self, name: str) -> BinaryIO:
        return self.entry(name).path.open("rb")

    def sync_later(self, name: str) -> None:
        """Start flushing the spooled layer ``name`` to disk in the background.

        :meth:`take` must fsync a spool file before it becomes a blob; started
        early, that disk write overlaps the hashing and unpacking still to do.
        A plain layer tar is encoded into the store, not moved: it needs none.
        """
        entry = self.entry(name)
        if compression_of(entry.path) != "none" and entry.path not in self._syncs:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fsync")
            self._syncs[entry.path] = self._pool.submit(_fsync, entry.path)

    def take(self, name: str, blobs: BlobStore, *, layer: bool = False) -> None:
        """Move the (verified) file ``name`` into the blob store under its digest.

        A ``layer`` that is a plain tar is encoded into the store instead (see
        ``freight.store.encoded``); its spool file stays until :meth:`close`.
        """
        entry = self.entry(name)
        if blobs.has(entry.digest):
            return
        if layer and compression_of(entry.path) == "none":
            with entry.path.open("rb") as f:
                blobs.ingest(f, entry.digest, encode=True)
            return
        synced = self._syncs.pop(entry.path, None)
        if synced is not None:
            synced.result()
        else:
            _fsync(entry.path)
        blobs.place(entry.path, entry.digest)
        self._spooled.remove(entry.path)
        for key, other in list(self._entries.items()):
            if other.path == entry.path:  # moved away: later reads find it in the store
                self._entries[key] = Entry(blobs.path(entry.digest), entry.digest, entry.size)

    def close(self) -> None:
        """Remove the spool files not taken into the store."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._syncs.clear()
        for path in self._spooled:
            path.unlink(missing_ok=True)
        self._spooled.clear()
        self._entries.clear()

    def _resolve(self, name: str) -> Entry:
        for _ in range(_MAX_LINKS):
            entry = self._lookup(name)
            if entry is not None:
                return entry
            if name not in self._links:
                raise ArchiveError(f"invalid archive: {name} is missing")
            name = self._links[name]
        raise ArchiveError(f"invalid archive: too many levels of links at {name}")

    def _lookup(self, name: str) -> Entry | None:
        return self._entries.get(name)

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TarSource(Source):
    """A tar stream, every regular member spooled in one pass."""

    def __init__(self, stream: BinaryIO, spool_dir: Path | None = None) -> None:
        super().__init__(spool_dir)
        try:
            self._read(stream)
        except BaseException:
            self.close()
            raise

    def _read(self, stream: BinaryIO) -> None:
        with tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK) as tar:
            for member in tar:
                name = clean_name(member.name)
                if member.isreg():
                    data = tar.extractfile(member)
                    assert data is not None  # a regular member has data
                    self._add(name, data)
                elif member.issym():
                    self._links[name] = clean_name(posixpath.join(posixpath.dirname(name), member.linkname))
                elif member.islnk():
                    self._links[name] = clean_name(member.linkname)

    def _add(self, name: str, data: Reader) -> None:
        path = self._spool_file()
        h = hashlib.sha256()
        size = 0
        with path.open("wb") as out:
            while chunk := data.read(CHUNK):
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
        self._entries[name] = Entry(path, "sha256:" + h.hexdigest(), size)


class _LazySource(Source):
    """Files spooled on first use from a region of a file on disk (see ``_locate``)."""

    def _locate(self, name: str) -> tuple[Path, int, int] | None:
        """Where the bytes of ``name`` are: (file, offset, size), or None."""
        raise NotImplementedError

    def _lookup(self, name: str) -> Entry | None:
        entry = self._entries.get(name)
        if entry is None and (where := self._locate(name)) is not None:
            path = self._spool_file()
            _copy_range(*where, path)
            with path.open("rb") as f:
                digest, size = hash_stream(f)
            entry = self._entries[name] = Entry(path, digest, size)
        return entry


class TarFileSource(_LazySource):
    """An uncompressed tar file: its headers read up front, its members spooled when asked for."""

    def __init__(self, path: Path, spool_dir: Path | None = None) -> None:
        super().__init__(spool_dir)
        self.path = path
        self._members: dict[str, tuple[int, int]] = {}
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                name = clean_name(member.name)
                if member.isreg() and not member.issparse():
                    self._members[name] = (member.offset_data, member.size)
                elif member.issym():
                    self._links[name] = clean_name(posixpath.join(posixpath.dirname(name), member.linkname))
                elif member.islnk():
                    self._links[name] = clean_name(member.linkname)

    def _locate(self, name: str) -> tuple[Path, int, int] | None:
        if name not in self._members:
            return None
        offset, size = self._members[name]
        return self.path, offset, size


class DirSource(_LazySource):
    """A directory (an unpacked OCI image layout)."""

    def __init__(self, root: Path, spool_dir: Path | None = None) -> None:
        super().__init__(spool_dir)
        self.root = root

    def _locate(self, name: str) -> tuple[Path, int, int] | None:
        path = self.root / name
        return (path, 0, path.stat().st_size) if path.is_file() else None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_range(src: Path, offset: int, size: int, dest: Path) -> None:
    """Copy ``size`` bytes at ``offset`` of ``src`` into the new file ``dest``, in the kernel if it can."""
    with src.open("rb") as fin, dest.open("r+b") as fout:
        done = 0
        try:
            while done < size and (n := os.copy_file_range(fin.fileno(), fout.fileno(), size - done,
                                                            offset + done, done)):
                done += n
        except OSError:  # no copy_file_range between these files: copy through memory
            fout.seek(done)
            while done < size and (chunk := os.pread(fin.fileno(), min(CHUNK, size - done), offset + done)):
                fout.write(chunk)
                done += len(chunk)
    if done != size:
        raise ArchiveError(f"invalid archive: {src.name} ends inside a member (truncated)")
