"""Layer compression: sniffing, streaming decompression, deterministic gzip.

Layers arrive gzip (Docker's and most registries' default), zstd (newer OCI
images) or as a plain tar; bzip2 and xz are taken too, as Docker's
``DecompressStream`` takes them (for ``import``, ``ADD`` and tar build
contexts). Decompression streams, so a layer is never whole in memory. gzip
is read through ISA-L (python-isal), several times faster than zlib; its
decompression runs on a worker thread so it overlaps with the extraction that
reads from it, as ``tar -xz`` overlaps with its gzip child. gzip is written
through libdeflate, whose output is the same on every CPU (``gzip_compress``).
"""

from __future__ import annotations

import io
import struct

from freight.errors import LayerError

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from freight.store.streams import Reader, Writer

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
XZ_MAGIC = b"\xfd7zXZ\x00"
_BZIP2_MARKS = (b"1AY&SY", b"\x17\x72\x45\x38\x50\x90")  # a bzip2 block's magic, or the end's
_SNIFF = 10
_CHUNK = 1 << 20
_BUFFER = 64 << 10  # the decompressed stream's buffer: reads of a MiB go past it, not copied through it
# Go's compress/gzip writes OS byte 255 ("unknown"); so does Docker's pusher.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
GZIP_LEVEL = 1          # libdeflate's fastest: a smaller output than ISA-L's level 2 at about half its speed
GZIP_MEMBER = 1 << 20   # input bytes per gzip member
GZIP_FLAVOUR = "gzip-libdeflate-1"  # what made a cached gzip blob (see gzip_compress)


class _Prefixed(io.RawIOBase):
    """A raw stream that yields some already-read bytes, then the rest of ``inner``."""

    def __init__(self, head: bytes, inner: Reader) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]  # it is handed bytearrays and memoryviews
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._inner.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def _sniff(fileobj: Reader) -> tuple[bytes, io.RawIOBase]:
    """Read the magic bytes and return them with a raw stream that still starts with them."""
    head = b""
    while len(head) < _SNIFF:
        more = fileobj.read(_SNIFF - len(head))
        if not more:
            break
        head += more
    return head, _Prefixed(head, fileobj)


def _is_bzip2(head: bytes) -> bool:
    """"BZh", a block size digit, then a block's magic: a plain tar whose first member's
    name starts with "BZh" is not taken for bzip2 (as Docker's 3-byte test takes it)."""
    return len(head) >= _SNIFF and head[:3] == b"BZh" and head[3] in b"123456789" and head[4:10] in _BZIP2_MARKS


class _Guarded(io.RawIOBase):
    """A decompressing stream whose codec errors surface as ``LayerError``."""

    def __init__(self, inner: Any, errors: tuple[type[BaseException], ...]) -> None:
        """``inner``: a decompressing reader with ``readinto`` (ISA-L's or zstandard's)."""
        super().__init__()
        self._inner = inner
        self._errors = errors

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]  # it is handed bytearrays and memoryviews
        try:
            return int(self._inner.readinto(buf))
        except self._errors as exc:
            raise LayerError(f"layer data is not valid compressed data: {exc}") from exc

    def close(self) -> None:
        self._inner.close()
        super().close()


def open_layer(fileobj: Reader) -> BinaryIO:
    """Return a stream of the uncompressed tar in ``fileobj`` (gzip, zstd, bzip2, xz or plain).

    The result streams: nothing is read ahead beyond a few MiB. Close it when
    done (it may own a decompression thread); closing it does not close
    ``fileobj``. Corrupt or truncated compressed data raises ``LayerError``.
    """
    head, raw = _sniff(fileobj)
    if head.startswith(GZIP_MAGIC):
        from isal import igzip_threaded, isal_zlib

        # isal annotates neither open() nor its error class (its stub calls that an instance)
        inner = igzip_threaded.open(raw, "rb", threads=1, block_size=_CHUNK)  # type: ignore[no-untyped-call]
        errors: tuple[type[BaseException], ...] = (EOFError, OSError, isal_zlib.error)  # type: ignore[assignment]
    elif head.startswith(ZSTD_MAGIC):
        import zstandard

        # zstandard's and lzma's stubs ask for IO[bytes]: they only call its read()
        inner = zstandard.ZstdDecompressor().stream_reader(raw, read_size=_CHUNK,  # type: ignore[arg-type]
                                                            read_across_frames=True)
        errors = (zstandard.ZstdError,)
    elif _is_bzip2(head):
        import bz2

        inner = bz2.BZ2File(raw)
        errors = (EOFError, OSError)
    elif head.startswith(XZ_MAGIC):
        import lzma

        inner = lzma.LZMAFile(raw)  # type: ignore[arg-type]  # see zstandard above
        errors = (EOFError, lzma.LZMAError)
    else:
        return io.BufferedReader(raw, buffer_size=_CHUNK)
    return io.BufferedReader(_Guarded(inner, errors), buffer_size=_BUFFER)


def media_type_compression(media_type: str) -> str:
    """Map a layer media type to ``"gzip"``, ``"zstd"`` or ``"none"``.

    Covers the OCI types (``...layer.v1.tar``, ``+gzip``, ``+zstd``, and the
    nondistributable variants) and Docker's (``...rootfs.diff.tar.gzip``,
    ``...rootfs.foreign.diff.tar.gzip``).
    """
    base = media_type.split(";", 1)[0].strip()
    if base.endswith(("+gzip", ".tar.gzip")):
        return "gzip"
    if base.endswith("+zstd"):
        return "zstd"
    if base.endswith((".tar", "diff.tar")):
        return "none"
    raise LayerError(f"unsupported layer media type {media_type!r}")


def _read_full(src: Reader, size: int) -> bytes:
    """Exactly ``size`` bytes of ``src`` (fewer only at its end): a member's bounds must not
    depend on how the stream happens to split its reads."""
    data = src.read(size)
    while 0 < len(data) < size:
        more = src.read(size - len(data))
        if not more:
            break
        data += more
    return bytes(data)


def gzip_compress(src: Reader, dst: Writer) -> None:
    """Gzip ``src`` into ``dst``: the same bytes for the same input on every machine.

    libdeflate (the ``deflate`` package, pinned, which links its own copy) at
    ``GZIP_LEVEL``, one gzip member per ``GZIP_MEMBER`` bytes of input (gzip's
    multi-member form, which every gzip reader takes, as eStargz layers rely on). Each
    header carries no name, mtime 0 and OS byte 255, as Go's writer. libdeflate's
    compressor has no code that depends on the CPU, unlike ISA-L's (whose output differs
    below SSE4.2, and at its level 3 without AVX2) or zlib-ng's; see docs/architecture.md,
    "Reproducible builds". ``GZIP_FLAVOUR`` names this output: change it (and the
    golden digests, with a CHANGELOG entry) whenever these bytes change.
    """
    import deflate  # lazily: only a push compresses

    first = True
    while (chunk := _read_full(src, GZIP_MEMBER)) or first:
        first = False
        dst.write(_GZIP_HEADER)
        dst.write(deflate.deflate_compress(chunk, GZIP_LEVEL))
        dst.write(struct.pack("<II", deflate.crc32(chunk) & 0xFFFFFFFF, len(chunk) & 0xFFFFFFFF))
