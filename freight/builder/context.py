"""The build context, and source trees that COPY/ADD read from.

A context is a directory (used in place), a tar archive (a file, or ``-`` on
stdin; extracted into a temporary directory) or, for ``-`` with a plain
Dockerfile on stdin, nothing at all. ``.dockerignore`` (or
``<Dockerfile>.dockerignore``) hides entries from COPY and ADD.

``Tree`` is what COPY reads: a ``RootFS`` view (a context directory, or a
stage's or image's layers) with the context's ignore rules and, for the
context, owners normalised to root as Docker's client sends them.
``Tree.checksum(rel)`` hashes a source for the cache key: names, types,
permission bits, owners, symlink targets and contents, never mtimes.
``match_sources`` finds what a COPY source names in a tree (wildcards
expanded, ``--exclude`` patterns applied).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path

from freight.builder.dockerignore import Pattern, is_excluded, load_patterns, walk_context
from freight.builder.fsview import RootFS, split
from freight.errors import FreightError, LayerError

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, BinaryIO


_CHUNK = 1 << 20
# A Dockerfile that is not valid UTF-8 builds as BuildKit builds it: each bad byte reads
# as U+FFFD (a name written so finds no file; ``COPY .`` and globs copy such names as they are).
DOCKERFILE_ERRORS = "replace"
_TAR_MAGICS = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")  # gzip, bzip2, xz, zstd
_WILDCARD = re.compile(r"[*?\[]")


class ContextError(FreightError):
    """No usable context or Dockerfile: the build fails (exit 1) before it starts."""

    exit_code = 1


class SourceNotFound(FreightError):
    """A COPY/ADD source that is not in the context or stage (a failed build)."""

    exit_code = 1


class HashCache:
    """Content hashes of context files, kept between builds in one JSON file.

    An entry is trusted only while the file's size, mtime, ctime, inode and
    device are unchanged (ctime cannot be set back by a user), so an edited
    file is always hashed again, as BuildKit's checksum cache does.
    """

    LIMIT = 100_000  # past this many entries, keep only those this build used

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dirty = False
        self.used: set[str] = set()
        try:
            self.entries: dict[str, list[Any]] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.entries = {}

    @staticmethod
    def _stamp(st: os.stat_result) -> list[int]:
        return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]

    def get(self, path: str, st: os.stat_result) -> str | None:
        entry = self.entries.get(path)
        self.used.add(path)
        return entry[1] if entry and entry[0] == self._stamp(st) else None

    def put(self, path: str, st: os.stat_result, digest: str) -> None:
        self.entries[path] = [self._stamp(st), digest]
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        if len(self.entries) > self.LIMIT:
            self.entries = {k: v for k, v in self.entries.items() if k in self.used}
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.entries))
        os.replace(tmp, self.path)
        self.dirty = False


class Tree:
    """A read-only source tree for COPY (see the module docstring)."""

    def __init__(self, fs: RootFS, included: set[str] | None = None,
                 owner: tuple[int, int] | None = None, hashes: HashCache | None = None) -> None:
        self.fs = fs
        self.included = included
        self.owner = owner
        self.hash_cache = hashes
        self._hashes: dict[str, str] = {}

    def visible(self, rel: str) -> bool:
        rel = "/".join(split(rel))
        return self.included is None or rel == "" or rel in self.included

    def lstat(self, rel: str) -> os.stat_result | None:
        return self.fs.lstat(rel) if self.visible(rel) else None

    def real(self, rel: str) -> str:
        path = self.fs.real(rel)
        assert path is not None
        return path

    def listdir(self, rel: str) -> list[str]:
        base = "/".join(split(rel))
        names = self.fs.listdir(base)
        return [n for n in names if self.visible(f"{base}/{n}" if base else n)]

    def resolve(self, rel: str) -> str:
        return self.fs.resolve(rel)

    def ids(self, st: os.stat_result) -> tuple[int, int]:
        return self.owner if self.owner is not None else (st.st_uid, st.st_gid)

    def file_hash(self, rel: str) -> str:
        path = self.real(rel)
        if path in self._hashes:
            return self._hashes[path]
        known = self.hash_cache.get(path, os.lstat(path)) if self.hash_cache is not None else None
        if known is None:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                digest = hashlib.sha256()
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
                known = digest.hexdigest()
            if self.hash_cache is not None:
                self.hash_cache.put(path, st, known)
        self._hashes[path] = known
        return known

    def checksum(self, rel: str) -> str:
        """A digest of the entry at ``rel`` and everything below it (no mtimes)."""
        digest = hashlib.sha256()
        self._hash_entry(rel, "", digest)
        return digest.hexdigest()

    def _hash_entry(self, rel: str, name: str, digest: hashlib._Hash) -> None:
        st = self.lstat(rel)
        if st is None:
            return
        uid, gid = self.ids(st)
        kind = stat.S_IFMT(st.st_mode)
        record = f"{name}\0{kind:o}\0{stat.S_IMODE(st.st_mode):o}\0{uid}\0{gid}\0"
        if stat.S_ISREG(kind):
            record += self.file_hash(rel)
        elif stat.S_ISLNK(kind):
            record += os.readlink(self.real(rel))
        elif stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
            record += f"{st.st_rdev}"
        digest.update(record.encode("utf-8", "surrogateescape") + b"\n")
        if stat.S_ISDIR(kind):
            for child in self.listdir(rel):
                self._hash_entry(f"{rel}/{child}" if rel else child, f"{name}/{child}", digest)


def has_wildcard(path: str) -> bool:
    return bool(_WILDCARD.search(path))


def excluded(rel: str, excludes: Sequence[Pattern]) -> bool:
    """Whether ``--exclude`` patterns leave out the source path ``rel``."""
    return bool(excludes) and is_excluded(rel, excludes)


def match_sources(tree: Tree, source: str, excludes: Sequence[Pattern]) -> list[str]:
    """The tree paths a COPY source names (wildcards expanded), or SourceNotFound."""
    parts = split(source)
    if not any(has_wildcard(p) for p in parts):
        rel = "/".join(parts)
        if tree.lstat(tree.resolve(rel)) is None or (rel and excluded(rel, excludes)):
            raise SourceNotFound(f'"/{rel}": not found' if rel else '"/": not found')
        return [rel]
    found = [""]
    for part in parts:
        nxt: list[str] = []
        for base in found:
            if not has_wildcard(part):
                cand = f"{base}/{part}" if base else part
                if tree.lstat(cand) is not None:
                    nxt.append(cand)
                continue
            st = tree.lstat(base)
            if st is None or not stat.S_ISDIR(st.st_mode):
                continue
            nxt += [f"{base}/{n}" if base else n for n in tree.listdir(base) if Pattern(part).match(n)]
        found = nxt
    found = [f for f in found if not excluded(f, excludes)]
    if not found:
        raise SourceNotFound(f'"/{"/".join(parts)}": not found')
    return sorted(found)


class BuildContext:
    """A context directory, its ignore rules and the Dockerfile text.

    ``temp``: a temporary directory holding the context (from a tar or stdin),
    removed on ``close``.
    """

    def __init__(self, root: Path, dockerfile: str, dockerfile_name: str = "Dockerfile",
                 patterns: list[Pattern] | None = None, temp: str | None = None,
                 dockerfile_path: Path | None = None) -> None:
        self.root = root
        self.dockerfile_path = dockerfile_path  # where the Dockerfile was read (None: from stdin)
        self.dockerfile = dockerfile
        self.dockerfile_name = dockerfile_name
        self.patterns = patterns or []
        self.hashes: HashCache | None = None
        self._temp = temp
        self._tree: Tree | None = None

    def tree(self) -> Tree:
        if self._tree is None:
            included = None
            if self.patterns:
                included = set(walk_context(self.root, self.patterns))
            # A temporary (tar or stdin) context is never seen again: no hash cache.
            hashes = self.hashes if self._temp is None else None
            self._tree = Tree(RootFS([self.root]), included, owner=(0, 0), hashes=hashes)
        return self._tree

    def close(self) -> None:
        if self.hashes is not None:
            self.hashes.save()
        if self._temp is not None:
            import shutil  # a tar or stdin context only: a build from a directory does without it

            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    def __enter__(self) -> BuildContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_archive(head: bytes) -> bool:
    """Whether ``head`` (the first 512+ bytes) starts a tar, compressed or not."""
    return head.startswith(_TAR_MAGICS) or head[257:262] == b"ustar"


def _extract(stream: BinaryIO, dest: str) -> None:
    """Unpack a context tar (plain or compressed) into ``dest``, as Docker's chrooted untar does."""
    # The layer applier, tempfile and shutil serve tar and stdin contexts only (here and below).
    from freight.store.compression import open_layer
    from freight.store.layerapply import extract_archive

    try:
        with open_layer(stream) as tar:
            extract_archive(tar, Path(dest))
    except LayerError as err:
        raise ContextError(f"unable to prepare context: not a directory or a valid tar archive ({err})") from None


def open_context(context: str, dockerfile: str | None = None, stdin: BinaryIO | None = None,
                 tmp_dir: Path | None = None) -> BuildContext:
    """Open a context as ``docker build`` takes it: a directory, a tar file or ``-`` (URLs:
    ``remotecontext``)."""
    if context == "-":
        return from_stdin(stdin or os.fdopen(0, "rb", closefd=False), dockerfile, tmp_dir)
    path = Path(context)
    if path.is_dir():
        return from_dir(path, dockerfile)
    if path.is_file():
        with open(path, "rb") as f:
            return _from_tar(f, dockerfile, tmp_dir)
    raise ContextError(f'unable to prepare context: path "{context}" not found')


def _dockerfile_path(root: Path, dockerfile: str | None, in_context: bool) -> Path:
    """``-f``: a path from the current directory, or inside the context for a tar context."""
    if dockerfile is None:
        return root / "Dockerfile"
    path = Path(dockerfile)
    if in_context:
        return root / dockerfile.lstrip("/")
    return path if path.is_absolute() or path.exists() else root / dockerfile


def from_dir(root: Path, dockerfile: str | None, temp: str | None = None) -> BuildContext:
    if dockerfile == "-":
        text = os.fdopen(0, "rb", closefd=False).read().decode("utf-8", DOCKERFILE_ERRORS)
        path = root / "Dockerfile"
    else:
        path = _dockerfile_path(root, dockerfile, temp is not None)
        try:
            text = path.read_text(encoding="utf-8", errors=DOCKERFILE_ERRORS)
        except (FileNotFoundError, IsADirectoryError):
            shown = dockerfile or "Dockerfile"
            raise ContextError(
                f"failed to solve: failed to read dockerfile: open {shown}: no such file or directory") from None
    patterns = load_patterns(root, path)
    return BuildContext(root.resolve(), text, path.name, patterns, temp=temp,
                        dockerfile_path=None if dockerfile == "-" else path)


def from_stdin(stream: BinaryIO, dockerfile: str | None, tmp_dir: Path | None) -> BuildContext:
    """``docker build -``: a tar of the context, or else the Dockerfile alone."""
    import shutil
    import tempfile

    head = b""
    while len(head) < 512 and (chunk := stream.read(512 - len(head))):
        head += chunk
    if not is_archive(head):
        temp = tempfile.mkdtemp(prefix="build-context-", dir=tmp_dir)
        text = (head + stream.read()).decode("utf-8", DOCKERFILE_ERRORS)
        return BuildContext(Path(temp), text, temp=temp)
    with tempfile.TemporaryFile(dir=tmp_dir) as spool:  # a context tar can be large: not in memory
        spool.write(head)
        shutil.copyfileobj(stream, spool)
        spool.seek(0)
        return _from_tar(spool, dockerfile, tmp_dir)


def _from_tar(stream: BinaryIO, dockerfile: str | None, tmp_dir: Path | None) -> BuildContext:
    import shutil
    import tempfile

    temp = tempfile.mkdtemp(prefix="build-context-", dir=tmp_dir)
    try:
        _extract(stream, temp)
        return from_dir(Path(temp), dockerfile, temp)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
