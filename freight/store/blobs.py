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

A writer made with ``encode`` (for uncompressed layer tars, which are also
unpacked into a snapshot) stores the blob zstd-encoded as ``<hex>.zst``; its
name and digest stay those of the original bytes, which ``open``, ``read``,
``size`` and ``verify`` give back (see ``freight.store.encoded``). A blob
smaller than ``ENCODE_FROM`` stays plain: encoding it would save less than
that, and reading it back would cost a push or save of a small image (paths
whose time is mostly start-up) the import of ``zstandard``, about 7 ms.
"""

from __future__ import annotations

import os
from pathlib import Path

from freight.errors import DigestMismatch, NotFound
from freight.image.digest import check, hex_of, new_sha256
from freight.store import scratch
from freight.store.encoded import SUFFIX, CorruptBlob, Encoder, open_decoded, original_size

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

CHUNK = 1 << 20
ENCODE_FROM = 1 << 20


class BlobWriter:
    """A file being written into the store; ``commit`` makes it visible.

    Use as a context manager: leaving the block without ``commit`` (an error,
    a crash) leaves nothing behind but a temp file that the next writer removes.
    """

    def __init__(self, store: BlobStore, sync_every: int = 0, encode: bool = False) -> None:
        self._store = store
        self._sync_every = sync_every
        self._synced = 0  # the size written when the file was last synced
        self._synced_at = 0  # the file's length then (smaller than that size when encoded)
        self.tmp_dir = store.tmp_dir
        import tempfile  # heavy: a command that only reads blobs does without it

        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="blob-")
        self._file = os.fdopen(fd, "wb")
        self._path = Path(name)
        self._encoder: Encoder | None = None
        self._held: bytearray | None = bytearray() if encode else None  # the start of a blob to encode
        self._hash = new_sha256()
        self.size = 0
        self.digest: str | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._held is not None:
            self._hold(data)
        else:
            (self._encoder or self._file).write(data)
        self._hash.update(data)
        self.size += len(data)
        if self._sync_every and self.size - self._synced >= self._sync_every:
            self._sync()
        return len(data)

    def _hold(self, data: bytes | bytearray | memoryview) -> None:
        """Keep the start of a blob to encode in memory until it reaches ``ENCODE_FROM``, then encode."""
        assert self._held is not None
        self._held += data
        if len(self._held) >= ENCODE_FROM:
            self._encoder = Encoder(self._file)
            self._encoder.write(self._held)
            self._held = None

    def _sync(self) -> None:
        """Make what was written durable, and let the page cache drop it (see the module docstring)."""
        self._file.flush()
        fd = self._file.fileno()
        os.fdatasync(fd)
        end = self._file.tell()
        os.posix_fadvise(fd, self._synced_at, end - self._synced_at, os.POSIX_FADV_DONTNEED)
        self._synced, self._synced_at = self.size, end

    def written_digest(self) -> str:
        """The digest of what was written so far (to use it before ``commit``'s fsync ends)."""
        return "sha256:" + self._hash.hexdigest()

    def commit(self, expected: str | None = None) -> str:
        """Finish the blob; raise DigestMismatch (and keep nothing) if it is not ``expected``."""
        if self._held is not None:
            self._file.write(self._held)  # too small to encode
        elif self._encoder is not None:
            self._encoder.finish()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = "sha256:" + self._hash.hexdigest()
        if expected is not None and digest != expected:
            self._path.unlink(missing_ok=True)
            raise DigestMismatch(f"blob digest mismatch: expected {expected}, got {digest}")
        self._store.place(self._path, digest, encoded=self._encoder is not None)
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
        return Path(scratch.directory(os.fspath(self._root)))

    def path(self, digest: str) -> Path:
        """Where the blob is kept as it is (an encoded one is at this path plus ``SUFFIX``)."""
        return self.dir / hex_of(check(digest))

    def _encoded_path(self, digest: str) -> Path:
        return self.dir / (hex_of(check(digest)) + SUFFIX)

    def has(self, digest: str) -> bool:
        return self.path(digest).exists() or self._encoded_path(digest).exists()

    def size(self, digest: str) -> int:
        """The size of the blob's own bytes (what a descriptor says), however it is kept."""
        path, encoded = self._existing(digest)
        return original_size(path) if encoded else path.stat().st_size

    def disk_size(self, digest: str) -> int:
        """The bytes the blob takes up in the store (what deleting it frees)."""
        return sum(p.stat().st_size for p in (self.path(digest), self._encoded_path(digest)) if p.exists())

    def writer(self, sync_every: int = 0, encode: bool = False) -> BlobWriter:
        """A new blob's writer; ``sync_every``: sync as it goes; ``encode``: keep it encoded if it
        is not small (for uncompressed layer tars; see the module docstring)."""
        return BlobWriter(self, sync_every, encode)

    def place(self, tmp: Path, digest: str, encoded: bool = False) -> None:
        """Atomically move a verified temp file (``encoded``: an encoded one) to its content address.

        A blob already kept in the other form stays as it is, and ``tmp`` goes.
        """
        other = self.path(digest) if encoded else self._encoded_path(digest)
        if other.exists():
            tmp.unlink(missing_ok=True)
            return
        os.chmod(tmp, 0o644)
        os.replace(tmp, self._encoded_path(digest) if encoded else self.path(digest))
        _fsync_dir(self.dir)

    def ingest(self, stream: BinaryIO, expected: str | None = None, encode: bool = False) -> tuple[str, int]:
        """Copy ``stream`` into the store (``encode``: as ``writer`` says); return (digest, size)."""
        if expected is not None and self.has(expected):
            return expected, self.size(expected)
        with self.writer(encode=encode) as w:
            while chunk := stream.read(CHUNK):
                w.write(chunk)
            return w.commit(expected), w.size

    def put(self, data: bytes, expected: str | None = None) -> str:
        with self.writer() as w:
            w.write(data)
            return w.commit(expected)

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def open(self, digest: str) -> BinaryIO:
        """The blob's own bytes, as a stream (one with a file descriptor only when it is kept plain)."""
        path, encoded = self._existing(digest)
        return open_decoded(path) if encoded else path.open("rb")

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)
        self._encoded_path(digest).unlink(missing_ok=True)

    def digests(self) -> Iterator[str]:
        seen = set()
        for entry in os.scandir(self.dir):
            name = entry.name.removesuffix(SUFFIX)
            if name not in seen:
                seen.add(name)
                yield "sha256:" + name

    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob (decoded, if it is kept encoded) and say whether it still matches its name."""
        h = new_sha256()
        try:
            with self.open(digest) as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
        except CorruptBlob:
            return False
        return "sha256:" + h.hexdigest() == digest

    def _existing(self, digest: str) -> tuple[Path, bool]:
        """The blob's file, and whether it is encoded; NotFound if it is not stored."""
        path = self.path(digest)
        if path.exists():
            return path, False
        encoded = self._encoded_path(digest)
        if encoded.exists():
            return encoded, True
        raise NotFound(f"blob {digest} not found in the store")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
