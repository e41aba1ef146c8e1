"""What differs between two layer tars, entry by entry.

``summarise`` reads a layer tar forward and keeps, for each path, what a reader of the
image would see of it: its kind, mode, owner, mtime, size, content digest, link target
and xattrs. ``compare`` lists the paths added, removed or changed between two such
summaries, naming what changed. ``build --check`` explains with it why two builds of
the same inputs differ.
"""

from __future__ import annotations

import hashlib

from freight.record import Record
from freight.store.tarformat import BLOCK
from freight.store.tarread import TarReader

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store.streams import Reader

_CHUNK = 1 << 20
_KINDS = {b"0": "file", b"\0": "file", b"7": "file", b"1": "hard link", b"2": "symlink", b"3": "char device",
          b"4": "block device", b"5": "directory", b"6": "fifo"}


class Entry(Record):
    """One path of a layer as a reader of the image sees it."""

    kind: str
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    size: int
    digest: str
    linkname: str
    xattrs: dict[str, bytes]


def summarise(stream: Reader) -> dict[str, Entry]:
    """Every entry of the uncompressed layer tar ``stream``, by path (no trailing slash)."""
    reader = TarReader(stream)
    entries: dict[str, Entry] = {}
    while (raw := reader.next()) is not None:
        digest = hashlib.sha256()
        left = raw.size
        while left:
            data = reader.read(min(left, _CHUNK))
            digest.update(data)
            left -= len(data)
        reader.skip(-raw.size % BLOCK)
        entries[raw.name.rstrip("/")] = Entry(
            _KINDS.get(raw.kind, f"type {raw.kind!r}"), raw.mode, raw.uid, raw.gid, raw.mtime_ns, raw.size,
            "sha256:" + digest.hexdigest() if raw.size else "", raw.linkname, raw.xattrs)
    return entries


def _changes(old: Entry, new: Entry) -> list[str]:
    """What differs between two entries of one path, in words."""
    out: list[str] = []
    if old.kind != new.kind:
        out.append(f"kind {old.kind} -> {new.kind}")
    if old.digest != new.digest or old.size != new.size:
        out.append(f"content {old.size} bytes {old.digest[7:19] or '-'} -> {new.size} bytes {new.digest[7:19] or '-'}")
    if old.mode != new.mode:
        out.append(f"mode {old.mode:04o} -> {new.mode:04o}")
    if (old.uid, old.gid) != (new.uid, new.gid):
        out.append(f"owner {old.uid}:{old.gid} -> {new.uid}:{new.gid}")
    if old.mtime_ns != new.mtime_ns:
        out.append(f"mtime {old.mtime_ns / 1e9:.9g} -> {new.mtime_ns / 1e9:.9g}")
    if old.linkname != new.linkname:
        out.append(f"link {old.linkname!r} -> {new.linkname!r}")
    if old.xattrs != new.xattrs:
        out.append(f"xattrs {sorted(old.xattrs)} -> {sorted(new.xattrs)}")
    return out


def compare(old: dict[str, Entry], new: dict[str, Entry]) -> list[str]:
    """One line per path that differs: ``+ path`` (only in ``new``), ``- path`` (only in
    ``old``), ``~ path: what changed``; in path order."""
    lines: list[str] = []
    for path in sorted(old.keys() | new.keys()):
        if path not in new:
            lines.append(f"- /{path}")
        elif path not in old:
            lines.append(f"+ /{path}")
        elif changed := _changes(old[path], new[path]):
            lines.append(f"~ /{path}: " + ", ".join(changed))
    return lines
