"""Applying a layer tar or unpacking a tar archive, safely against hostile tars.

Two modes, as Docker's graph drivers have: flattening (``overlay=False``)
applies the layer onto a tree that already holds the layers below it, so OCI
whiteouts delete from that tree; overlay mode (``overlay=True``) fills an empty
snapshot directory that will be an overlayfs lower dir, so whiteouts become
overlayfs's own form (a 0:0 char device, ``trusted.overlay.opaque=y``).

Safety: every name is cleaned lexically and refused when absolute or when its
``..`` climbs out. Parent directories are resolved one component at a time
with ``lstat``, never letting the kernel follow a symlink: a relative symlink
that stays inside the target is followed by hand (so a layer may write through
``lib -> usr/lib``); an absolute one or one that climbs out is refused, since
from the host it points outside (an archive's are resolved as if the target
were ``/`` instead, as Docker's chrooted untar does). Verified real
directories are cached; any removal of a directory or symlink drops the cache,
so a path is only ever handed to the kernel when every directory in it is
known to be a real directory inside the target. The last component is never
followed (``O_NOFOLLOW``/``O_EXCL``, ``lchown``, ``follow_symlinks=False``,
``linkat`` without ``AT_SYMLINK_FOLLOW``).

Archives (``extract_archive``: ``ADD``, a tar build context, ``cp``) go through
the same code with Docker's untar rules instead of a layer's: names are joined
below a destination directory, symlinks resolve as if the target were ``/``,
and whiteout names are plain files. Nothing in freight unpacks a tar with
``tarfile``'s extraction, whose filters have had holes (CVE-2025-4517).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from freight.errors import LayerError
from freight.record import replace
from freight.settings import rootless
from freight.store.tarformat import BLOCK, OPAQUE_MARKER, WHITEOUT_PREFIX, opaque_xattr
from freight.store.tarread import TarEntry, TarReader

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store.streams import Reader

_CHUNK = 1 << 20
_AUFS_META = ".wh..wh."
_MAX_SYMLINKS = 40
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_REGULAR = (b"0", b"\0", b"7")
_DEVICE_TYPES = {b"3": stat.S_IFCHR, b"4": stat.S_IFBLK, b"6": stat.S_IFIFO}


def _clean(name: str, noun: str) -> list[str]:
    """Lexically clean a relative member name into components; refuse absolute or escaping names."""
    if name.startswith("/"):
        raise LayerError(f'{noun} "{name}" has an absolute path')
    parts: list[str] = []
    for part in name.split("/"):
        if part == "..":
            if not parts:
                raise LayerError(f'{noun} "{name}" escapes the target')
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return parts


def _confine(name: str, base: list[str], noun: str) -> list[str]:
    """``name`` below directory ``base`` as Docker's untar joins them: the name is cleaned (the
    ``..`` of an absolute name stop at its root), joined to ``base`` (``..`` stop at the target
    root), and refused when the result is not below ``base``."""
    rooted = name.startswith("/")
    parts: list[str] = []
    ups = 0
    for part in name.split("/"):
        if part == "..":
            if parts:
                parts.pop()
            elif not rooted:
                ups += 1
        elif part not in ("", "."):
            parts.append(part)
    joined = base[: max(0, len(base) - ups)] + parts
    if joined[: len(base)] != base:
        raise LayerError(f'{noun} "{name}" escapes the destination directory')
    return joined


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


class _Applier:
    """Applies entries one by one; holds the caches that make resolution cheap."""

    def __init__(self, target: Path, overlay: bool, base: list[str] | None = None,
                 owner: tuple[int, int] | None = None, implied_mtime: int | None = None) -> None:
        """``base``: None for a layer; for an archive, the components of the directory it goes in
        (``owner`` and ``implied_mtime``: see ``extract_archive``)."""
        self.root = os.path.abspath(target)
        self.overlay = overlay
        self.chroot_symlinks = base is not None
        self.base = base
        self.depth = len(base or ())
        self.owner = owner
        self.implied_ns = None if implied_mtime is None else implied_mtime * 1_000_000_000
        self.noun = "layer entry" if base is None else "archive entry"
        self.chown = os.geteuid() == 0
        self.in_userns = rootless()
        self.parents: dict[str, str] = {"": ""}
        self.real_dirs: set[str] = {""}
        self.applied: set[str] = set()
        self.dir_times: dict[str, int] = {}
        self.size = 0

    def abs(self, real: str) -> str:
        return f"{self.root}/{real}" if real else self.root

    # -- resolution ---------------------------------------------------------

    def resolve(self, parts: list[str], entry: str, create: bool) -> str | None:
        """The real relative path of directory ``parts``; None if missing and not ``create``."""
        key = "/".join(parts)
        real = self.parents.get(key)
        if real is not None:
            return real
        done: list[str] = []
        todo = list(reversed(parts))
        hops = 0
        while todo:
            part = todo.pop()
            if part == "..":
                if done:
                    done.pop()
                elif not self.chroot_symlinks:
                    raise LayerError(f'{self.noun} "{entry}" escapes the target through a symlink')
                continue
            candidate = "/".join(done + [part])
            if candidate not in self.real_dirs:
                link = self._check_dir(candidate, entry, create)
                if link is False:
                    return None
                if isinstance(link, str):
                    hops += 1
                    if hops > _MAX_SYMLINKS:
                        raise LayerError(f'{self.noun} "{entry}": too many levels of symbolic links at "{candidate}"')
                    if link.startswith("/"):
                        if not self.chroot_symlinks:
                            raise LayerError(f'{self.noun} "{entry}" escapes the target through symlink "{candidate}"')
                        done = []
                    todo.extend(reversed([p for p in link.split("/") if p not in ("", ".")]))
                    continue
            done.append(part)
        real = "/".join(done)
        self.parents[key] = real
        return real

    def _check_dir(self, candidate: str, entry: str, create: bool) -> bool | str:
        """True if ``candidate`` is (now) a real dir, False if missing, or the text of a symlink there."""
        path = self.abs(candidate)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if not create:
                return False
            os.mkdir(path, 0o755)
            if self.owner is not None and self.chown:
                os.lchown(path, *self.owner)
            if self.implied_ns is not None:
                self.dir_times[candidate] = self.implied_ns
            self.real_dirs.add(candidate)
            return True
        if stat.S_ISDIR(st.st_mode):
            self.real_dirs.add(candidate)
            return True
        if stat.S_ISLNK(st.st_mode):
            return os.readlink(path)
        raise LayerError(f'{self.noun} "{entry}": "{candidate}" is not a directory')

    def forget(self, real: str) -> None:
        """A directory or symlink at ``real`` went away: drop every cached resolution."""
        self.parents = {"": ""}
        self.real_dirs = {""}
        below = real + "/"
        self.dir_times = {k: v for k, v in self.dir_times.items() if k != real and not k.startswith(below)}

    def remove(self, real: str, keep_dir: bool = False) -> bool:
        """Remove whatever is at ``real``; return True if it is a directory that was kept."""
        path = self.abs(real)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            import shutil  # heavy, and few layers replace a directory

            shutil.rmtree(path)
            self.forget(real)
        else:
            os.unlink(path)
            if stat.S_ISLNK(st.st_mode):
                self.forget(real)
        return False

    # -- entries ------------------------------------------------------------

    def names(self, name: str) -> list[str]:
        """The components of member name ``name``, below ``base`` for an archive."""
        return _clean(name, self.noun) if self.base is None else _confine(name, self.base, self.noun)

    def apply(self, entry: TarEntry, reader: TarReader) -> None:
        if self.owner is not None:
            entry = replace(entry, uid=self.owner[0], gid=self.owner[1])
        parts = self.names(entry.name)
        marked = [part.startswith(WHITEOUT_PREFIX) for part in parts] if self.base is None else []
        if any(marked):
            # AUFS metadata (.wh..wh.plnk, .wh..wh.aufs) and paths under a whiteout are skipped, as Docker does.
            if not any(marked[:-1]) and (parts[-1] == OPAQUE_MARKER or not parts[-1].startswith(_AUFS_META)):
                self.whiteout(entry, parts)
            reader.skip(entry.size + (-entry.size % BLOCK))
            return
        if len(parts) == self.depth:
            if entry.kind != b"5":
                raise LayerError(f'{self.noun} "{entry.name}" replaces the target directory with a non-directory')
            if self.base is None:
                self.metadata(entry, "")  # an archive's "." leaves the directory it goes in as it is (Docker)
            return
        parent = self.resolve(parts[:-1], entry.name, create=True)
        assert parent is not None  # create=True resolves or raises
        real = _join(parent, parts[-1])
        self.applied.add(real)
        if entry.kind in _REGULAR:
            self.regular(entry, real, reader)
        elif entry.kind == b"5":
            self.directory(entry, real, parts)
        elif entry.kind == b"2":
            self.check_symlink(entry, parts)
            self.create(real, lambda path: os.symlink(entry.linkname, path))
            self.metadata(entry, real)
        elif entry.kind == b"1":
            self.hardlink(entry, real)
        elif entry.kind in _DEVICE_TYPES and self.in_userns:
            reader.skip(entry.size + (-entry.size % BLOCK))  # mknod is refused there: skipped, as Docker does
        elif entry.kind in _DEVICE_TYPES:
            device = os.makedev(entry.devmajor, entry.devminor)
            self.create(real, lambda path: os.mknod(path, _DEVICE_TYPES[entry.kind] | entry.mode, device))
            self.metadata(entry, real)
        else:
            reader.skip(entry.size + (-entry.size % BLOCK))  # unknown types are skipped, as Docker does

    def check_symlink(self, entry: TarEntry, parts: list[str]) -> None:
        """Docker's untar refuses a relative symlink that points above the directory it unpacks into
        (``cp`` into a container's subdirectory); what it points to is never followed out anyway."""
        if self.depth and not entry.linkname.startswith("/"):
            pointed = _confine("/".join(["", *parts[:-1], entry.linkname]), [], self.noun)
            if pointed[: self.depth] != self.base:
                raise LayerError(f'{self.noun} "{entry.name}" is a symlink to "{entry.linkname}", '
                                 "outside the destination directory")

    def create(self, real: str, make: Callable[[str], None]) -> None:
        """Run ``make(path)``, replacing a non-directory or directory already there."""
        path = self.abs(real)
        try:
            make(path)
        except FileExistsError:
            self.remove(real)
            make(path)

    def regular(self, entry: TarEntry, real: str, reader: TarReader) -> None:
        path = self.abs(real)
        try:
            fd = os.open(path, _WRITE_FLAGS, 0o600)
        except FileExistsError:
            self.remove(real)
            fd = os.open(path, _WRITE_FLAGS, 0o600)
        try:
            left = entry.size
            while left:
                data = reader.read(min(left, _CHUNK))
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                left -= len(data)
            reader.skip(-entry.size % BLOCK)
            if self.chown:
                _own(lambda: os.fchown(fd, entry.uid, entry.gid), entry)
            os.fchmod(fd, entry.mode)
            self.set_xattrs(fd, entry, symlink=False)
            os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
        finally:
            os.close(fd)
        self.size += entry.size

    def directory(self, entry: TarEntry, real: str, parts: list[str]) -> None:
        path = self.abs(real)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if not self.remove(real, keep_dir=True):
                os.mkdir(path, 0o700)
        self.real_dirs.add(real)
        self.parents["/".join(parts)] = real
        self.metadata(entry, real)

    def hardlink(self, entry: TarEntry, real: str) -> None:
        try:
            parts = self.names(entry.linkname)
        except LayerError:
            parts = []
        if len(parts) <= self.depth:
            raise LayerError(f'{self.noun} "{entry.name}" links to "{entry.linkname}", outside the target')
        parent = self.resolve(parts[:-1], entry.name, create=False)
        source = None if parent is None else _join(parent, parts[-1])
        if source is None or not os.path.lexists(self.abs(source)):
            raise LayerError(f'{self.noun} "{entry.name}" links to "{entry.linkname}", which does not exist')
        if source == real:
            return
        self.create(real, lambda path: os.link(self.abs(source), path, follow_symlinks=False))

    def whiteout(self, entry: TarEntry, parts: list[str]) -> None:
        base = parts[-1]
        create = self.overlay
        parent = self.resolve(parts[:-1], entry.name, create=create)
        if parent is None:
            return
        if base == OPAQUE_MARKER:
            if self.overlay:
                os.setxattr(self.abs(parent), opaque_xattr(), b"y", follow_symlinks=False)
            else:
                self.opaque(parent)
            return
        name = base[len(WHITEOUT_PREFIX) :]
        if name in ("", ".", ".."):
            raise LayerError(f'{self.noun} "{entry.name}" is not a valid whiteout')
        real = _join(parent, name)
        if real in self.applied:
            return  # a whiteout hides only what lower layers have (OCI image spec)
        if self.overlay:
            self.create(real, lambda path: os.mknod(path, stat.S_IFCHR, 0))
            if self.chown:
                _own(lambda: os.lchown(self.abs(real), entry.uid, entry.gid), entry)
        else:
            self.remove(real)

    def opaque(self, real_dir: str) -> None:
        """Remove what lower layers put under ``real_dir``, keeping what this layer wrote."""
        with os.scandir(self.abs(real_dir)) as it:
            children = [(child.name, child.is_dir(follow_symlinks=False)) for child in it]
        for name, is_dir in children:
            real = _join(real_dir, name)
            if real not in self.applied:
                self.remove(real)
            elif is_dir:
                self.opaque(real)

    def metadata(self, entry: TarEntry, real: str) -> None:
        """Owner, mode, xattrs and mtime of a non-regular entry (a directory's mtime waits for the end)."""
        path = self.abs(real)
        symlink = entry.kind == b"2"
        if self.chown:
            _own(lambda: os.lchown(path, entry.uid, entry.gid), entry)
        if not symlink:
            os.chmod(path, entry.mode)
        self.set_xattrs(path, entry, symlink)
        if entry.kind == b"5":
            self.dir_times[real] = entry.mtime_ns
        else:
            os.utime(path, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=False)

    def set_xattrs(self, target: str | int, entry: TarEntry, symlink: bool) -> None:
        for key, value in entry.xattrs.items():
            try:
                if isinstance(target, int):
                    os.setxattr(target, key, value)
                else:
                    os.setxattr(target, key, value, follow_symlinks=False)
            except OSError as exc:
                unsupported = exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP)
                if not (unsupported or (symlink and exc.errno == errno.EPERM)):
                    raise

    def finish(self) -> None:
        """Set directory mtimes last, children first, as tar does."""
        for real in sorted(self.dir_times, reverse=True):
            ns = self.dir_times[real]
            try:
                os.utime(self.abs(real), ns=(ns, ns), follow_symlinks=False)
            except FileNotFoundError:
                pass


def apply_layer(stream: Reader, target: Path, *, overlay: bool = False) -> int:
    """Apply the uncompressed layer tar read from ``stream`` to ``target``.

    Symlinks met on the way to an entry are followed only while they stay in
    ``target``; one that is absolute or climbs out is refused. ``target`` must
    be an existing directory. Returns the bytes of regular file content
    written. Raises ``LayerError`` naming the entry for a malformed layer or
    one that tries to write outside ``target``; nothing outside ``target`` is
    created, changed or removed.
    """
    return _run(_Applier(target, overlay), TarReader(stream))


def extract_archive(stream: Reader, target: Path, *, into: str = "/", owner: tuple[int, int] | None = None,
                    implied_mtime: int | None = None) -> int:
    """Unpack the uncompressed tar read from ``stream`` as Docker's chrooted untar does.

    For what is an archive rather than a layer: ``ADD`` of a local tar, a tar
    given as a build context, ``cp`` into a container or out of one. ``target``
    stands for ``/``: every symlink, on the way to an entry or to a hard link's
    source, is resolved as if it were. Entry names and hard link names are below
    the directory ``into`` (absolute ones too); one whose ``..`` climb above
    ``into`` is refused, as is a relative symlink pointing above it, and where
    ``into`` is ``/`` they stop at it. Whiteout names are ordinary files (only
    layers delete), the archive's own ``.`` leaves ``into`` as it is, and
    ``owner`` (``--chown``; ``cp`` without ``-a``) replaces every entry's owner,
    that of the directories the archive implies without holding them too. Those
    get ``implied_mtime`` (seconds) where given, so that unpacking the same
    archive twice gives the same tree. Returns and raises as ``apply_layer``;
    nothing outside ``target`` is created, changed or removed.
    """
    applier = _Applier(target, False, base=_confine(into, [], "directory"), owner=owner, implied_mtime=implied_mtime)
    return _run(applier, TarReader(stream, "archive"))


def is_tar(stream: Reader) -> bool:
    """Whether ``stream`` starts with a valid tar header (Docker's test for ``ADD``'s archives)."""
    try:
        return TarReader(stream).next() is not None
    except LayerError:
        return False


def _run(applier: _Applier, reader: TarReader) -> int:
    """Apply every member ``reader`` yields; return the regular file bytes written."""
    while (entry := reader.next()) is not None:
        try:
            applier.apply(entry, reader)
        except LayerError:
            raise
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise LayerError(f'{applier.noun} "{entry.name}" cannot be applied: {reason}') from exc
    applier.finish()
    while reader.stream.read(_CHUNK):
        pass
    return applier.size


def _own(change: Callable[[], None], entry: TarEntry) -> None:
    """Give ``entry``'s file its owner; in a user namespace without that ID, say why (EINVAL)."""
    try:
        change()
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
        raise LayerError(f"{entry.name}: owner {entry.uid}:{entry.gid} cannot be mapped in the user namespace "
                         "(rootless with a single ID: give this user ranges in /etc/subuid and /etc/subgid)"
                         ) from None
