"""Content-addressed blob storage.

Blobs live at ``blobs/sha256/<hex>``. Every write goes to a temporary file in
the writer's own directory under ``tmp/``, is hashed while written, fsynced,
verified against the digest it was announced with, and only then renamed into
place: a blob path that exists is always complete and correct, whatever crashed when.

A writer made with ``sync_every`` (for downloads) also syncs each time that
many more bytes were written: the disk (and, in a virtual machine, the host
under it) then persists a big blob while it is still arriving, and
``commit``'s fsync has little left to wait for. The synced pages are then
dropped from the page cache: a pulled blob is rarely read again soon (its
unpacked snapshot is), and the pages it frees are reused by the writes that
follow, which is several times cheaper than filling pages never used before.
"""

from __future__ import annotations

import os
from pathlib import Path

from freight.errors import DigestMismatch, NotFound
from freight.image.digest import check, hex_of, new_sha256

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import BinaryIO, Iterator

CHUNK = 1 << 20


class BlobWriter:
    """A file being written into the store; ``commit`` makes it visible.

    Use as a context manager: leaving the block without ``commit`` (an error,
    a crash) leaves nothing behind but a temp file that the next writer removes.
    """

    def __init__(self, store: BlobStore, sync_every: int = 0) -> None:
        self._store = store
        self._sync_every = sync_every
        self._synced = 0
        self.tmp_dir = store.tmp_dir
        import tempfile  # lazily: it costs start-up time on paths that never write

        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="blob-")
        self._file = os.fdopen(fd, "wb")
        self._path = Path(name)
        self._hash = new_sha256()
        self.size = 0
        self.digest: str | None = None

    def write(self, data: bytes | memoryview) -> int:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)
        if self._sync_every and self.size - self._synced >= self._sync_every:
            self._sync()
        return len(data)

    def _sync(self) -> None:
        """Make what was written durable, and let the page cache drop it (see the module docstring)."""
        self._file.flush()
        fd = self._file.fileno()
        os.fdatasync(fd)
        os.posix_fadvise(fd, self._synced, self.size - self._synced, os.POSIX_FADV_DONTNEED)
        self._synced = self.size

    def written_digest(self) -> str:
        """The digest of what was written so far (to use it before ``commit``'s fsync ends)."""
        return "sha256:" + self._hash.hexdigest()

    def commit(self, expected: str | None = None) -> str:
        """Finish the blob; raise DigestMismatch (and keep nothing) if it is not ``expected``."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = "sha256:" + self._hash.hexdigest()
        if expected is not None and digest != expected:
            self._path.unlink(missing_ok=True)
            raise DigestMismatch(f"blob digest mismatch: expected {expected}, got {digest}")
        self._store.place(self._path, digest)
        self.digest = digest
        return digest

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        if self.digest is None:
            self._path.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.dir = root / "blobs" / "sha256"
        self._root = root
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def tmp_dir(self) -> Path:
        """This process's temporary directory in the store (see ``freight.store.scratch``)."""
        from freight.store.scratch import directory

        return Path(directory(os.fspath(self._root)))

    def path(self, digest: str) -> Path:
        return self.dir / hex_of(check(digest))

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()

    def size(self, digest: str) -> int:
        return self._existing(digest).stat().st_size

    def writer(self, sync_every: int = 0) -> BlobWriter:
        """A new blob's writer; ``sync_every``: sync as it goes (see the module docstring)."""
        return BlobWriter(self, sync_every)

    def place(self, tmp: Path, digest: str) -> None:
        """Atomically move a verified temp file to its content address."""
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path(digest))
        _fsync_dir(self.dir)

    def ingest(self, stream: BinaryIO, expected: str | None = None) -> tuple[str, int]:
        """Copy ``stream`` into the store; return (digest, size)."""
        if expected is not None and self.has(expected):
            return expected, self.size(expected)
        with self.writer() as w:
            while chunk := stream.read(CHUNK):
                w.write(chunk)
            return w.commit(expected), w.size

    def put(self, data: bytes, expected: str | None = None) -> str:
        with self.writer() as w:
            w.write(data)
            return w.commit(expected)

    def read(self, digest: str) -> bytes:
        return self._existing(digest).read_bytes()

    def open(self, digest: str) -> BinaryIO:
        return self._existing(digest).open("rb")

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def digests(self) -> Iterator[str]:
        for entry in os.scandir(self.dir):
            yield "sha256:" + entry.name

    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob and say whether it still matches its name."""
        h = new_sha256()
        with self.open(digest) as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return "sha256:" + h.hexdigest() == digest

    def _existing(self, digest: str) -> Path:
        path = self.path(digest)
        if not path.exists():
            raise NotFound(f"blob {digest} not found in the store")
        return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
