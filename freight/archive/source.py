"""The files of an image archive: a tar stream read once, or a directory read in place.

Docker archives promise no member order (``manifest.json`` may come last, after
gigabytes of layers), so a tar stream is read in a single pass and every
regular file is copied to a temporary file, hashed on the way. The archive's
metadata is then read from those copies, and a blob that passes verification
moves into the blob store by rename: each byte is read once and written once,
and no layer is ever held in memory. A directory (an OCI image layout) is read
where it is, each file hashed the first time it is asked for.

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
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from freight.errors import FreightError
from freight.store.blobs import CHUNK, BlobStore
from freight.store.compression import GZIP_MAGIC, ZSTD_MAGIC

METADATA_LIMIT = 64 << 20  # a manifest, config or index larger than this is not one
_MAX_LINKS = 16


class ArchiveError(FreightError):
    """An archive that is not a readable image archive (truncated, corrupt, incomplete)."""


@dataclass
class Entry:
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
    """Named files of an archive. Subclasses say where the bytes live."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._links: dict[str, str] = {}

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

    def take(self, name: str, blobs: BlobStore) -> None:
        """Put the (verified) file ``name`` into the blob store under its digest."""
        entry = self.entry(name)
        if not blobs.has(entry.digest):
            with entry.path.open("rb") as f:
                blobs.ingest(f, entry.digest)

    def close(self) -> None:
        """Release what the source holds (temporary files)."""

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
    """A tar stream, spooled member by member into ``spool_dir`` in one pass.

    Put ``spool_dir`` on the blob store's filesystem (its ``tmp`` dir) and
    :meth:`take` moves a blob into the store by rename instead of copying it.
    """

    def __init__(self, stream: BinaryIO, spool_dir: Path | None = None) -> None:
        super().__init__()
        self._dir = spool_dir
        try:
            self._read(stream)
        except BaseException:
            self.close()
            raise

    def take(self, name: str, blobs: BlobStore) -> None:
        entry = self.entry(name)
        if blobs.has(entry.digest):
            return
        fd = os.open(entry.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        blobs.place(entry.path, entry.digest)
        for key, other in list(self._entries.items()):
            if other.path == entry.path:  # moved away: later reads find it in the store
                self._entries[key] = Entry(blobs.path(entry.digest), entry.digest, entry.size)

    def close(self) -> None:
        for entry in self._entries.values():
            if entry.path.name.startswith("spool-"):
                entry.path.unlink(missing_ok=True)
        self._entries.clear()

    def _read(self, stream: BinaryIO) -> None:
        with tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK) as tar:
            for member in tar:
                name = clean_name(member.name)
                if member.isreg():
                    self._add(name, tar.extractfile(member))  # type: ignore[arg-type]
                elif member.issym():
                    self._links[name] = clean_name(posixpath.join(posixpath.dirname(name), member.linkname))
                elif member.islnk():
                    self._links[name] = clean_name(member.linkname)

    def _add(self, name: str, data: BinaryIO) -> None:
        old = self._entries.pop(name, None)
        if old is not None:
            old.path.unlink(missing_ok=True)
        fd, path = tempfile.mkstemp(dir=self._dir, prefix="spool-")
        self._entries[name] = Entry(Path(path), "", 0)  # closed over by close() if writing fails
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := data.read(CHUNK):
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
        self._entries[name] = Entry(Path(path), "sha256:" + h.hexdigest(), size)


class DirSource(Source):
    """A directory (an unpacked OCI image layout), read in place; files are hashed on first use."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def _lookup(self, name: str) -> Entry | None:
        entry = self._entries.get(name)
        if entry is None:
            path = self.root / name
            if not path.is_file():
                return None
            with path.open("rb") as f:
                digest, size = hash_stream(f)
            entry = self._entries[name] = Entry(path, digest, size)
        return entry
