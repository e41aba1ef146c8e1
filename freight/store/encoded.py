"""Uncompressed layer tars kept zstd-encoded on disk, read back as their original bytes.

A layer imported, built or loaded as a plain tar is also unpacked into a
snapshot; keeping the tar itself as it is would hold every byte twice (and a
small gzip bomb would cost twice its unpacked size). The blob store keeps such
a blob encoded instead, under its usual name plus ``SUFFIX``: its identity
stays the digest of the original bytes, and every reader gets those bytes
back, so digests, manifests and image IDs are the same as for a plain blob.

The file is a valid zstd stream (``zstd -dc`` restores the tar): a skippable
frame holding the original size, then one checksummed zstd frame. The size
lets the store answer ``size`` without decoding, and a decoder that ends
early (a truncated file) is caught by comparing against it.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

from freight.errors import FreightError

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any, BinaryIO

SUFFIX = ".zst"
LEVEL = 1  # zstd's fast level: several hundred MB/s of real layers, GB/s of zeros
_HEADER = struct.Struct("<IIQ")  # skippable frame magic, its payload length (8), the original size
_MAGIC = 0x184D2A5F
_CHUNK = 1 << 20


class CorruptBlob(FreightError):
    """A stored encoded blob that cannot be decoded to its original bytes."""


class Encoder:
    """Writes the encoded form of what it is given into ``file`` (opened for writing, at offset 0).

    Compression runs on a zstd worker thread (which does not hold the GIL), so
    the caller's own work, e.g. unpacking the same tar, overlaps with it.
    """

    def __init__(self, file: BinaryIO) -> None:
        import zstandard  # lazily: only writers of layers load it

        self._file = file
        file.write(_HEADER.pack(_MAGIC, 8, 0))
        compressor = zstandard.ZstdCompressor(level=LEVEL, threads=1, write_checksum=True)
        self._writer = compressor.stream_writer(file, closefd=False, write_size=_CHUNK)
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._writer.write(data)
        self.size += len(data)
        return len(data)

    def finish(self) -> None:
        """End the frame and record the original size in the header; the caller flushes and syncs."""
        self._writer.close()  # type: ignore[no-untyped-call]  # unannotated in zstandard's stub; ends the frame
        self._file.flush()
        os.pwrite(self._file.fileno(), _HEADER.pack(_MAGIC, 8, self.size), 0)


def original_size(path: Path) -> int:
    """The size of the original bytes of the encoded file ``path``."""
    with open(path, "rb") as f:
        return _read_header(f, path)


def _read_header(f: BinaryIO, path: Path) -> int:
    header = f.read(_HEADER.size)
    if len(header) != _HEADER.size:
        raise CorruptBlob(f"stored blob {path.name} is truncated")
    magic, length, size = _HEADER.unpack(header)
    if magic != _MAGIC or length != 8:
        raise CorruptBlob(f"stored blob {path.name} is not an encoded blob")
    return int(size)


class Decoded(io.RawIOBase):
    """The original bytes of an encoded file, as a read-only stream.

    It has no file descriptor, so sendfile fast paths fall back to copying.
    Seeking forward decodes and drops; seeking backward starts over (only
    chunked uploads seek, and each opens the blob anew).
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.name = str(path)
        self._path = path
        self._reader: Any = None
        self._start()

    def _start(self) -> None:
        import zstandard

        if self._reader is not None:
            self._reader.close()
        f = open(self._path, "rb")
        try:
            self.size = _read_header(f, self._path)
        except BaseException:
            f.close()
            raise
        self._reader = zstandard.ZstdDecompressor().stream_reader(f, read_size=_CHUNK, closefd=True)
        self._errors = (zstandard.ZstdError,)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]  # it is handed bytearrays and memoryviews
        try:
            n = int(self._reader.readinto(buf))
        except self._errors as exc:
            raise CorruptBlob(f"stored blob {self._path.name} is corrupt: {exc}") from None
        self._pos += n
        if (n == 0 and self._pos != self.size) or self._pos > self.size:
            raise CorruptBlob(f"stored blob {self._path.name} decodes to {self._pos} bytes,"
                              f" not the {self.size} it was stored with")
        return n

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence] + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target < self._pos:
            self._start()
        scratch = bytearray(min(_CHUNK, max(target - self._pos, 1)))
        while self._pos < target:
            view = memoryview(scratch)[: min(len(scratch), target - self._pos)]
            if not self.readinto(view):
                break
        return self._pos

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        super().close()


def open_decoded(path: Path) -> BinaryIO:
    """A buffered stream of the original bytes of the encoded file ``path``."""
    return io.BufferedReader(Decoded(path), buffer_size=_CHUNK)
