"""COPY and ADD: filling a new layer directory without starting a container.

``LayerDir`` builds the layer: it creates the destination's parent
directories (with the metadata they have in the image below, or 0755 and the
``--chown`` owner when they are new), copies entries from a ``Tree``, and at
the end sets every new entry's mtime (see ``FIXED_MTIME``).

Docker's rules, as BuildKit applies them:

* a source directory's *contents* are copied, not the directory itself
  (``--parents`` keeps the source path below the destination);
* the destination is a directory when it ends with ``/``, when there are
  several sources (else an error), or when it already is one in the image;
  a relative destination is below ``WORKDIR``;
* context files belong to root unless ``--chown``; files from a stage or
  image keep their owners; ``--chmod`` sets the mode of every copied entry;
* symlinks inside a copied directory are copied as links, the source path
  itself is followed;
* ADD extracts a local tar archive (plain, gzip, bzip2 or xz) into the
  destination and downloads a URL (mode 0600, ``--checksum`` verified);
  a git repository's tree is copied like a directory (``freight.builder.gitsource``).

Imported when a step fills a layer (or ADD downloads a URL): a fully cached build
does without this module and ``shutil`` (see tests/cli/test_startup_imports.py).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
from pathlib import Path

from freight.builder.context import SourceNotFound, Tree, excluded, is_archive
from freight.builder.fsview import RootFS, split
from freight.errors import LayerError
from freight.record import Record
from freight.store.compression import open_layer
from freight.store.layerapply import extract_archive, is_tar

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Sequence

    from freight.builder.dockerignore import Pattern

# New files from COPY/ADD get this mtime when SOURCE_DATE_EPOCH is not set,
# so a layer depends only on content and metadata, never on when or where the
# context was checked out (2000-01-01T00:00:00Z: late enough for zip files).
FIXED_MTIME = 946684800


class CopyOptions(Record):
    owner: tuple[int, int] | None = None    # --chown, resolved; None: the source's owner
    chmod: int | None = None
    mtime: int = FIXED_MTIME
    excludes: Sequence[Pattern] = ()        # from --exclude
    parents: bool = False
    unpack: bool = False                    # ADD: extract local archives
    chown_given: bool = False               # archives keep their owners unless --chown




class LayerDir:
    """A new layer's directory being filled by COPY/ADD (see the module docstring)."""

    def __init__(self, path: Path, lower: RootFS | None, mtime: int) -> None:
        self.path = path
        self.lower = lower
        self.mtime = mtime
        self._times: list[tuple[str, int]] = []

    def _layer(self, rel: str) -> str:
        return f"{self.path}/{rel}" if rel else os.fspath(self.path)

    def resolve(self, dest: str, follow_last: bool) -> str:
        """``dest`` resolved through the image's symlinks (the layer's own first)."""
        fs = RootFS(([] if self.lower is None else list(reversed(self.lower.top_first)))
                    + [self.path])
        return fs.resolve(dest, follow_last)

    def is_dir(self, rel: str) -> bool:
        path = self._layer(rel)
        if os.path.lexists(path):
            return os.path.isdir(path) and not os.path.islink(path)
        st = self.lower.lstat(rel) if self.lower is not None else None
        return st is not None and stat.S_ISDIR(st.st_mode)

    def ensure_dir(self, rel: str, owner: tuple[int, int], mode: int = 0o755) -> None:
        """Make ``rel`` and its parents in the layer, copying metadata from the image below."""
        parts = split(rel)
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            path = self._layer(sub)
            if os.path.isdir(path) and not os.path.islink(path):
                continue
            if os.path.lexists(path):
                os.unlink(path)
            st = self.lower.lstat(sub) if self.lower is not None else None
            if st is not None and stat.S_ISDIR(st.st_mode):
                os.mkdir(path)
                os.chown(path, st.st_uid, st.st_gid)
                os.chmod(path, stat.S_IMODE(st.st_mode))
                self._times.append((path, int(st.st_mtime)))
            else:
                os.mkdir(path)
                os.chown(path, *owner)
                os.chmod(path, mode if depth == len(parts) else 0o755)
                self._times.append((path, self.mtime))

    def _clear(self, path: str, want_dir: bool) -> None:
        if not os.path.lexists(path):
            return
        if os.path.isdir(path) and not os.path.islink(path):
            if not want_dir:
                shutil.rmtree(path)
        else:
            os.unlink(path)

    def copy(self, tree: Tree, src: str, dest: str, opts: CopyOptions, rel_top: str = "") -> None:
        """Copy the tree entry ``src`` to layer path ``dest`` (recursively for directories)."""
        st = tree.lstat(src)
        if st is None:
            return
        path = self._layer(dest)
        kind = stat.S_IFMT(st.st_mode)
        owner = opts.owner or tree.ids(st)
        mode = opts.chmod if opts.chmod is not None else stat.S_IMODE(st.st_mode)
        self._clear(path, stat.S_ISDIR(kind))
        if stat.S_ISDIR(kind):
            if not os.path.isdir(path):
                os.mkdir(path)
            for name in tree.listdir(src):
                rel = f"{rel_top}/{name}" if rel_top else name
                if not excluded(rel, opts.excludes):
                    self.copy(tree, f"{src}/{name}" if src else name, f"{dest}/{name}", opts, rel)
        elif stat.S_ISREG(kind):
            shutil.copyfile(tree.real(src), path, follow_symlinks=False)
        elif stat.S_ISLNK(kind):
            os.symlink(os.readlink(tree.real(src)), path)
        else:
            os.mknod(path, st.st_mode, st.st_rdev)
        os.chown(path, *owner, follow_symlinks=False)
        if not stat.S_ISLNK(kind):
            os.chmod(path, mode)
        self._times.append((path, opts.mtime))

    def write_file(self, dest: str, data: bytes | Path, mode: int, owner: tuple[int, int], mtime: int) -> None:
        """A new file at ``dest`` holding ``data`` (bytes, or the content of a local file)."""
        path = self._layer(dest)
        self._clear(path, False)
        if isinstance(data, Path):
            shutil.copyfile(data, path)
        else:
            with open(path, "wb") as f:
                f.write(data)
        os.chown(path, *owner)
        os.chmod(path, mode)
        self._times.append((path, mtime))

    def extract(self, archive: str, dest: str, owner: tuple[int, int] | None) -> None:
        """ADD of a local archive: unpacked into ``dest`` as Docker's chrooted untar does it
        (``extract_archive``), its owners kept unless --chown gives ``owner``; the directories it
        implies get the layer's mtime, as other new entries do."""
        with open(archive, "rb") as raw, open_layer(raw) as tar:
            extract_archive(tar, Path(self._layer(dest)), owner=owner, implied_mtime=self.mtime)

    def finish(self) -> None:
        """Set the recorded mtimes, deepest first so a directory's stays as set."""
        for path, mtime in sorted(self._times, key=lambda t: t[0].count("/"), reverse=True):
            os.utime(path, (mtime, mtime), follow_symlinks=False)


def copy_sources(layer: LayerDir, tree: Tree, sources: list[str], dest: str, dest_is_dir: bool,
                 opts: CopyOptions) -> None:
    """Copy matched ``sources`` of ``tree`` to the image path ``dest``."""
    created = opts.owner or (0, 0)
    if dest_is_dir:
        base = layer.resolve(dest, True)
        layer.ensure_dir(base, created)
    for src in sources:
        real = tree.resolve(src)
        st = tree.lstat(real)
        if st is None:
            raise SourceNotFound(f'"/{src}": not found')
        if opts.parents:
            sub = posixpath.join(base, src) if src else base
            if stat.S_ISDIR(st.st_mode):
                layer.ensure_dir(sub, created, opts.chmod or stat.S_IMODE(st.st_mode))
                layer.copy(tree, real, sub, opts)
            else:
                layer.ensure_dir(posixpath.dirname(sub), created)
                layer.copy(tree, real, sub, opts)
            continue
        if stat.S_ISDIR(st.st_mode):
            target = base if dest_is_dir else layer.resolve(dest, True)
            layer.ensure_dir(target, created, opts.chmod if opts.chmod is not None else 0o755)
            layer.copy(tree, real, target, opts)
        elif opts.unpack and stat.S_ISREG(st.st_mode) and _is_archive_file(tree.real(real)):
            target = base if dest_is_dir else layer.resolve(dest, True)
            layer.ensure_dir(target, created)
            layer.extract(tree.real(real), target, opts.owner if opts.chown_given else None)
        elif dest_is_dir:
            layer.copy(tree, real, posixpath.join(base, posixpath.basename(src)), opts)
        else:
            target = layer.resolve(dest, False)
            layer.ensure_dir(posixpath.dirname(target), created)
            layer.copy(tree, real, target, opts)


def _is_archive_file(path: str) -> bool:
    """Whether ADD unpacks ``path``: a tar, plain or compressed, judged by its content as Docker does."""
    with open(path, "rb") as f:
        if not is_archive(f.read(512)):
            return False
        f.seek(0)
        try:
            with open_layer(f) as tar:
                return is_tar(tar)
        except LayerError:
            return False


def fetch_url(url: str, dest: str, checksum: str = "") -> tuple[str, int | None]:
    """Download ``url`` to the file ``dest``; return its sha256 and Last-Modified time."""
    # urllib.request and email cost about 30 ms: imported only for an ADD of a URL.
    import urllib.error
    import urllib.request
    from email.utils import parsedate_to_datetime

    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
            modified = resp.headers.get("Last-Modified")
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise SourceNotFound(f"failed to load cache key: invalid response status from {url}: {reason}") from None
    got = "sha256:" + digest.hexdigest()
    if checksum and checksum != got:
        raise SourceNotFound(f"digest mismatch {got}: {checksum}")
    mtime = None
    if modified:
        try:
            mtime = int(parsedate_to_datetime(modified).timestamp())
        except (TypeError, ValueError):
            mtime = None
    return got, mtime
