"""Reading a tar stream forward, member by member, as Docker's and Go's archive/tar write them.

USTAR headers (with their prefix field), PAX extended headers (path, linkpath, size,
uid, gid, mtime with nanoseconds, ``SCHILY.xattr.*``; global ones folded in like local
ones) and GNU long names and link names. Numbers may be octal or GNU base-256. A header
with a bad checksum, a sparse member, an extended header over 1 MiB or a stream that
ends inside a member raises ``LayerError``. Nothing here touches the file system: what
a member does to a tree is ``freight.store.layerapply``'s.
"""

from __future__ import annotations

from freight.errors import LayerError
from freight.record import Record
from freight.store.tarformat import BLOCK, OVERLAY_XATTRS, PAX_XATTR

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store.streams import Reader

_CHUNK = 1 << 20
_ZERO_BLOCK = bytes(BLOCK)
_MAX_SPECIAL = 1 << 20  # PAX and GNU long-name records, as Go's archive/tar limits them
HEADER_ONLY = (b"1", b"2", b"3", b"4", b"5", b"6")  # kinds whose size field says nothing of data


class TarEntry(Record):
    """One tar member with PAX and GNU long-name records already folded in (``xattrs``: its
    ``SCHILY.xattr.*`` records, but for overlayfs's own)."""

    name: str
    kind: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    linkname: str
    devmajor: int
    devminor: int
    xattrs: dict[str, bytes]


def _number(raw: bytes) -> int:
    """A numeric header field: NUL/space-padded octal, or GNU base-256."""
    if raw and raw[0] & 0x80:
        value = int.from_bytes(raw[1:], "big")
        return value - (1 << (8 * len(raw) - 1)) if raw[0] & 0x40 else value
    text = raw.strip(b" \0")
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise LayerError(f"invalid number {raw!r} in layer tar header") from None


def _string(raw: bytes) -> bytes:
    return raw.split(b"\0", 1)[0]


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _pax_mtime_ns(value: bytes) -> int:
    sec, _, frac = value.decode("ascii", "replace").partition(".")
    ns = int((frac + "000000000")[:9]) if frac.isdigit() else 0
    whole = int(sec)
    return whole * 1_000_000_000 + (-ns if sec.startswith("-") else ns)


def _parse_pax(data: bytes) -> dict[str, bytes]:
    """``LEN key=value\\n`` records; keys as text, values as raw bytes."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0 or not data[pos:space].isdigit():
            break
        end = pos + int(data[pos:space])
        if end > len(data) or end <= space:
            raise LayerError("malformed PAX header in layer tar")
        key, _, value = data[space + 1 : end - 1].partition(b"=")
        records[_decode(key)] = value
        pos = end
    return records


class TarReader:
    """A forward-only tar parser over a stream (USTAR, PAX, GNU long names)."""

    def __init__(self, stream: Reader, label: str = "layer") -> None:
        self.stream = stream
        self.label = label

    def read(self, n: int) -> bytes:
        data = self.stream.read(n)
        if len(data) == n:
            return data
        parts = [data]
        got = len(data)
        while got < n:
            more = self.stream.read(n - got)
            if not more:
                raise LayerError(f"{self.label} tar is truncated")
            parts.append(more)
            got += len(more)
        return b"".join(parts)

    def skip(self, n: int) -> None:
        while n > 0:
            step = min(n, _CHUNK)
            self.read(step)
            n -= step

    def _block(self) -> bytes | None:
        block = self.stream.read(BLOCK)
        if len(block) < BLOCK and block:
            block += self.read(BLOCK - len(block))
        if not block or block == _ZERO_BLOCK:
            return None
        stored = _number(block[148:156])
        unsigned = sum(block[:148]) + 256 + sum(block[156:])
        if stored != unsigned and stored != unsigned - 2 * sum(b for b in block if b > 127) + 2 * sum(
            b for b in block[148:156] if b > 127
        ):
            raise LayerError(f"{self.label} tar has a corrupt header (bad checksum)")
        return block

    def next(self) -> TarEntry | None:
        """The next member, or None at the end of the archive."""
        try:
            return self._next()
        except ValueError as exc:  # a PAX number or time that is not one
            raise LayerError(f"{self.label} tar has a malformed header: {exc}") from None

    def _next(self) -> TarEntry | None:
        pax: dict[str, bytes] = {}
        long_name = long_link = None
        while True:
            block = self._block()
            if block is None:
                return None
            kind = block[156:157]
            size = _number(block[124:136])
            if kind in (b"x", b"g", b"L", b"K"):
                if size > _MAX_SPECIAL:
                    raise LayerError(f"{self.label} tar has a {size}-byte extended header, over the 1 MiB limit")
                data = self.read(size)
                self.skip(-size % BLOCK)
                if kind == b"x":
                    pax.update(_parse_pax(data))
                elif kind == b"L":
                    long_name = _string(data)
                elif kind == b"K":
                    long_link = _string(data)
                continue
            return self._entry(block, kind, size, pax, long_name, long_link)

    def _entry(
        self, block: bytes, kind: bytes, size: int, pax: dict[str, bytes],
        long_name: bytes | None, long_link: bytes | None,
    ) -> TarEntry:
        name = _string(block[0:100])
        if block[257:263] == b"ustar\0":
            prefix = _string(block[345:500])
            if prefix:
                name = prefix + b"/" + name
        name = pax.get("path", long_name or name)
        if any(key.startswith("GNU.sparse") for key in pax) or kind == b"S":
            raise LayerError(f'{self.label} entry "{_decode(name)}" is a sparse file, which freight does not support')
        size = int(pax["size"]) if "size" in pax else size
        if kind in HEADER_ONLY:
            size = 0
        return TarEntry(
            name=_decode(name),
            kind=kind,
            mode=_number(block[100:108]) & 0o7777,
            uid=int(pax["uid"]) if "uid" in pax else _number(block[108:116]),
            gid=int(pax["gid"]) if "gid" in pax else _number(block[116:124]),
            size=size,
            mtime_ns=_pax_mtime_ns(pax["mtime"]) if "mtime" in pax else _number(block[136:148]) * 1_000_000_000,
            linkname=_decode(pax.get("linkpath", long_link or _string(block[157:257]))),
            devmajor=_number(block[329:337]),
            devminor=_number(block[337:345]),
            xattrs={
                key[len(PAX_XATTR) :]: value
                for key, value in pax.items()
                if key.startswith(PAX_XATTR) and not key[len(PAX_XATTR) :].startswith(OVERLAY_XATTRS)
            },
        )
