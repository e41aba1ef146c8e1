"""Deterministic layer tars, as Docker and BuildKit write them.

The format is what Go's ``archive/tar`` produces for Docker: a USTAR header
for every entry that fits one, a PAX extended header (``PaxHeaders.0/NAME``)
only where USTAR cannot say it (long or non-ASCII names, big numbers, xattrs),
numeric owners with empty user and group names, integer mtimes, permission and
setuid/setgid/sticky bits only in the mode field, and two zero blocks at the
end without padding to a 10 KiB record. Entries come in a depth-first walk,
each directory's names in byte order, with no entry for the root itself.

The same tree therefore always gives the same bytes; with ``source_date_epoch``
mtimes newer than it are lowered to it (BuildKit's rewrite-timestamp), so a
rebuild that touched files still gives the same digest. With ``settle`` the tree
itself is given the times its tar holds (whole seconds, lowered), so a directory
kept as the layer's snapshot holds exactly what unpacking the tar would give.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from freight.errors import LayerError
from freight.store.tarformat import (
    BLOCK,
    FUSE_OPAQUE_WHITEOUT,
    OPAQUE_MARKER,
    OVERLAY_XATTRS,
    PAX_XATTR,
    WHITEOUT_PREFIX,
    opaque_xattr,
)

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store.streams import Writer

_CHUNK = 1 << 20
_FLUSH_AT = 1 << 20
_FUSE_MARKERS = (OPAQUE_MARKER.encode(), FUSE_OPAQUE_WHITEOUT.encode())

_REG, _LINK, _SYM, _CHR, _BLK, _DIR, _FIFO, _PAX = b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"x"
_KINDS = {
    stat.S_IFREG: _REG,
    stat.S_IFDIR: _DIR,
    stat.S_IFLNK: _SYM,
    stat.S_IFCHR: _CHR,
    stat.S_IFBLK: _BLK,
    stat.S_IFIFO: _FIFO,
}


def _fits(value: int, width: int) -> bool:
    """Whether ``value`` fits a NUL-terminated octal field of ``width`` bytes."""
    return 0 <= value < 1 << 3 * (width - 1)


def _ascii(value: bytes) -> bytes:
    """Go's toASCII: the name with its non-ASCII bytes dropped, for fields PAX records override."""
    return value if value.isascii() else bytes(b for b in value if b < 0x80)


def _field(value: bytes, width: int) -> bytes:
    return value[:width].ljust(width, b"\0")


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """Split a name into USTAR's (prefix, name) as Go's splitUSTARPath does, or None if it cannot be."""
    if not name.isascii():
        return None
    if len(name) <= 100:
        return b"", name
    length = 156 if len(name) > 156 else len(name) - (name[-1:] == b"/")
    cut = name.rfind(b"/", 0, length)
    if cut <= 0 or cut > 155 or not 0 < len(name) - cut - 1 <= 100:
        return None
    return name[:cut], name[cut + 1 :]


def _pax_record(key: bytes, value: bytes) -> bytes:
    """One ``"LEN key=value\\n"`` record, LEN counting itself."""
    body = b" " + key + b"=" + value + b"\n"
    size = len(body) + 1
    while size != len(body) + len(str(size)):
        size = len(body) + len(str(size))
    return str(size).encode() + body


def _header_block(
    name: bytes, prefix: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
    kind: bytes, linkname: bytes, devmajor: int, devminor: int,
) -> bytes:
    """A 512-byte USTAR header; numbers must already fit their fields (zero-padded octal, as Go writes)."""
    fields = b"%s%07o\0%07o\0%07o\0%011o\0%011o\0" % (_field(name, 100), mode, uid, gid, size, mtime)
    tail = b"%s%sustar\x0000%s%07o\0%07o\0%s" % (
        kind, _field(linkname, 100), b"\0" * 64, devmajor, devminor, _field(prefix, 155),
    )
    unsigned = sum(fields) + 8 * 32 + sum(tail)
    return b"%s%06o\0 %s%s" % (fields, unsigned, tail, b"\0" * 12)


def tar_header(
    name: bytes, *, kind: bytes, mode: int, uid: int, gid: int, mtime: int, size: int = 0,
    linkname: bytes = b"", devmajor: int = 0, devminor: int = 0, xattrs: dict[str, bytes] | None = None,
) -> bytes:
    """The header block(s) for one entry: plain USTAR when it fits, else PAX + USTAR, as Go's Writer chooses."""
    records: dict[bytes, bytes] = {}
    if len(name) > 100 or not name.isascii():
        records[b"path"] = name
    if len(linkname) > 100 or not linkname.isascii():
        records[b"linkpath"] = linkname
    fit: dict[bytes, int] = {}
    for key, number, width in ((b"uid", uid, 8), (b"gid", gid, 8), (b"size", size, 12), (b"mtime", mtime, 12)):
        fit[key] = number if _fits(number, width) else 0
        if not fit[key] and number:
            records[key] = str(number).encode()
    for attr, value in sorted((xattrs or {}).items()):
        records[(PAX_XATTR + attr).encode()] = value
    numbers = (fit[b"uid"], fit[b"gid"], fit[b"size"], fit[b"mtime"])
    split = _split_ustar(name) if set(records) <= {b"path"} else None
    if split is not None:
        return _header_block(split[1], split[0], mode, *numbers, kind, linkname, devmajor, devminor)
    main = _header_block(_ascii(name)[:100], b"", mode, *numbers, kind, _ascii(linkname)[:100], devmajor, devminor)
    data = b"".join(_pax_record(k, v) for k, v in sorted(records.items()))
    head, _, base = name.rpartition(b"/")
    pax_name = b"/".join(p for p in (head, b"PaxHeaders.0", base) if p)
    pax = _header_block(_ascii(pax_name)[:100].rstrip(b"/"), b"", 0, 0, 0, len(data), 0, _PAX, b"", 0, 0)
    return pax + data + b"\0" * (-len(data) % BLOCK) + main


class _Writer:
    """Walks a tree and streams its tar to ``out`` through a 1 MiB buffer."""

    def __init__(
        self, root: Path, out: Writer, overlay_upper: bool, epoch: int | None, uid: int | None, gid: int | None,
        settle: bool = False,
    ) -> None:
        self.root = os.fsencode(root)
        self.out = out
        self.overlay_upper = overlay_upper
        self.epoch = epoch
        self.uid = uid
        self.gid = gid
        self.settle = settle
        self.buf = bytearray()
        self.links: dict[tuple[int, int], bytes] = {}

    def mtime(self, st: os.stat_result) -> int:
        t = st.st_mtime_ns // 1_000_000_000
        return min(t, self.epoch) if self.epoch is not None else t

    def owner(self, st: os.stat_result) -> tuple[int, int]:
        return (st.st_uid if self.uid is None else self.uid, st.st_gid if self.gid is None else self.gid)

    def xattrs(self, path: bytes) -> dict[str, bytes]:
        try:
            names = os.listxattr(path, follow_symlinks=False)
        except OSError:
            return {}
        return {
            n: os.getxattr(path, n, follow_symlinks=False)
            for n in names
            if not n.startswith(OVERLAY_XATTRS) and not n.startswith("system.")
        }

    def emit(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        # A fresh buffer rather than clear(): ``out`` may keep what it was given (a queue to a compressor thread).
        self.out.write(self.buf)
        self.buf = bytearray()

    def walk(self, rel: bytes) -> None:
        base = self.root + b"/" + rel if rel else self.root
        with os.scandir(base) as it:
            entries = [(entry, entry.stat(follow_symlinks=False)) for entry in it
                       if not (self.overlay_upper and entry.name in _FUSE_MARKERS)]  # see is_opaque
        # Sorted by the name each entry is archived under, whiteouts included.
        named = sorted((self.archived_name(entry.name, st), entry.path, st) for entry, st in entries)
        for name, path, st in named:
            self.entry(rel + name, path, st)

    def is_whiteout(self, st: os.stat_result) -> bool:
        return self.overlay_upper and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0

    def archived_name(self, name: bytes, st: os.stat_result) -> bytes:
        return WHITEOUT_PREFIX.encode() + name if self.is_whiteout(st) else name

    def entry(self, rel: bytes, path: bytes, st: os.stat_result) -> None:
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFSOCK:
            return  # Docker drops sockets: they cannot be archived.
        if self.settle and st.st_mtime_ns != self.mtime(st) * 1_000_000_000:
            # An entry's new times leave its directory's as they are: any order will do.
            os.utime(path, ns=(self.mtime(st) * 1_000_000_000,) * 2, follow_symlinks=False)
        if self.is_whiteout(st):
            self.header(rel, _REG, st, mode=0o600)
            return
        xattrs = self.xattrs(path)
        if fmt == stat.S_IFDIR:
            self.header(rel + b"/", _DIR, st, xattrs=xattrs)
            if self.overlay_upper and self.is_opaque(path):
                self.header(rel + b"/" + OPAQUE_MARKER.encode(), _REG, st, mode=stat.S_IMODE(st.st_mode) & 0o777)
            self.walk(rel + b"/")
            return
        if st.st_nlink > 1:
            first = self.links.setdefault((st.st_dev, st.st_ino), rel)
            if first != rel:
                self.header(rel, _LINK, st, linkname=first, xattrs=xattrs)
                return
        if fmt == stat.S_IFREG:
            self.header(rel, _REG, st, size=st.st_size, xattrs=xattrs)
            self.content(path, rel, st.st_size)
        elif fmt == stat.S_IFLNK:
            self.header(rel, _SYM, st, linkname=os.readlink(path), xattrs=xattrs)
        else:
            self.header(rel, _KINDS[fmt], st, xattrs=xattrs)

    def header(
        self, name: bytes, kind: bytes, st: os.stat_result, *, mode: int | None = None, size: int = 0,
        linkname: bytes = b"", xattrs: dict[str, bytes] | None = None,
    ) -> None:
        """Emit one entry's header with ``st``'s owner, mode, device numbers and (clamped) mtime."""
        uid, gid = self.owner(st)
        mtime = self.mtime(st)
        device = kind in (_CHR, _BLK)
        self.emit(tar_header(
            name, kind=kind, mode=stat.S_IMODE(st.st_mode) if mode is None else mode, uid=uid, gid=gid,
            mtime=mtime, size=size, linkname=linkname, xattrs=xattrs,
            devmajor=os.major(st.st_rdev) if device else 0, devminor=os.minor(st.st_rdev) if device else 0,
        ))

    def is_opaque(self, path: bytes) -> bool:
        """The overlay's xattr, or fuse-overlayfs's marker files (which ``walk`` leaves out)."""
        try:
            return os.getxattr(path, opaque_xattr(), follow_symlinks=False) == b"y"
        except OSError:
            return os.path.lexists(path + b"/" + OPAQUE_MARKER.encode())

    def content(self, path: bytes, rel: bytes, size: int) -> None:
        """Copy exactly ``size`` bytes of the file, padded to a block; a file that shrank is an error.

        Small files go through the buffer with the headers; big ones straight to ``out``.
        """
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            left = size
            while left:
                data = os.read(fd, min(left, _CHUNK))
                if not data:
                    raise LayerError(f"file {os.fsdecode(rel)!r} changed size while it was archived")
                if len(data) >= _FLUSH_AT:
                    self.flush()
                    self.out.write(data)
                else:
                    self.emit(data)
                left -= len(data)
        finally:
            os.close(fd)
        self.emit(b"\0" * (-size % BLOCK))


def write_layer(
    src: Path,
    out: Writer,
    *,
    overlay_upper: bool = False,
    source_date_epoch: int | None = None,
    uid: int | None = None,
    gid: int | None = None,
    settle: bool = False,
) -> None:
    """Write the directory ``src`` as an uncompressed, deterministic layer tar to ``out``.

    With ``overlay_upper`` the directory is an overlayfs upper dir: its
    whiteout devices (char 0:0) become ``.wh.NAME`` files and its opaque
    directories (``trusted.overlay.opaque=y``, or fuse-overlayfs's marker files) get a
    ``.wh..wh..opq`` entry right after their own. overlayfs's own ``trusted.overlay.*`` xattrs are
    never archived. ``uid``/``gid`` replace every entry's owner. With ``settle`` each
    entry's mtime on disk is set to the one archived (see the module docstring).
    """
    writer = _Writer(Path(src), out, overlay_upper, source_date_epoch, uid, gid, settle)
    writer.walk(b"")
    writer.emit(b"\0" * (2 * BLOCK))
    writer.flush()
