"""What differs between two layer tars, entry by entry.

``summarise`` reads a layer tar forward and keeps, for each path, what a reader of the
image would see of it: its kind, mode, owner, mtime, size, content digest, link target
and xattrs. ``changes`` lists the paths added, removed or changed between two such
summaries, naming what changed. ``freight.store.imagediff`` compares
whole images with it, for ``freight image diff`` and ``build --check``.
"""

from __future__ import annotations

import hashlib

from freight.record import Record
from freight.store.tarformat import BLOCK
from freight.store.tarread import TarReader

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

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


class PathChange(Record):
    """How one path differs: ``change`` is ``added``, ``removed`` or ``changed``; ``fields``
    maps what changed (kind, size, digest, mode, owner, mtime, link, xattrs) to [old, new]."""

    path: str
    change: str
    fields: dict[str, list[Any]]

    def line(self) -> str:
        """``+ /path``, ``- /path`` or ``~ /path: what changed``, in words."""
        if self.change != "changed":
            return f"{'+' if self.change == 'added' else '-'} /{self.path}"
        return f"~ /{self.path}: " + ", ".join(_words(name, old, new) for name, (old, new) in self.fields.items())


def _words(name: str, old: Any, new: Any) -> str:
    if name == "digest":
        return f"content {old[7:19] or '-'} -> {new[7:19] or '-'}"
    if name == "size":
        return f"size {old} -> {new} bytes"
    if name == "mode":
        return f"mode {old:04o} -> {new:04o}"
    if name == "mtime":
        return f"mtime {old / 1e9:.9g} -> {new / 1e9:.9g}"
    if name == "link":
        return f"link {old!r} -> {new!r}"
    return f"{name} {old} -> {new}"


def _fields(old: Entry, new: Entry) -> dict[str, list[Any]]:
    """What differs between two entries of one path, field by field."""
    pairs: dict[str, tuple[Any, Any]] = {
        "kind": (old.kind, new.kind), "digest": (old.digest, new.digest), "size": (old.size, new.size),
        "mode": (old.mode, new.mode), "owner": (f"{old.uid}:{old.gid}", f"{new.uid}:{new.gid}"),
        "mtime": (old.mtime_ns, new.mtime_ns), "link": (old.linkname, new.linkname),
        "xattrs": (sorted(old.xattrs), sorted(new.xattrs)) if old.xattrs != new.xattrs else ([], [])}
    return {name: [a, b] for name, (a, b) in pairs.items() if a != b}


def changes(old: dict[str, Entry], new: dict[str, Entry]) -> list[PathChange]:
    """The paths added (only in ``new``), removed (only in ``old``) or changed, in path order."""
    out: list[PathChange] = []
    for path in sorted(old.keys() | new.keys()):
        if path not in new:
            out.append(PathChange(path, "removed", {}))
        elif path not in old:
            out.append(PathChange(path, "added", {}))
        elif changed := _fields(old[path], new[path]):
            out.append(PathChange(path, "changed", changed))
    return out
