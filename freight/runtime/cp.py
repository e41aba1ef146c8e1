"""``freight cp``: copy files between a container and the host, as ``docker cp`` does.

A running container's files are read and written through ``/proc/<pid>/root``
(its own mounts, volumes included); a stopped one's through its overlay,
mounted for the copy in a private directory of the container. Paths inside a
container are resolved as if its root were ``/`` (``rootfs.secure_join``).
Files are read into a tar, and tars unpacked (``extract_archive``), by a child
process chrooted into the container's root, so no symlink in the container,
not even one swapped in during the copy, can lead a copy to the host. Copies
out are unpacked on the host by ``extract_archive`` too, never with
``tarfile``'s extraction.

Docker's path rules: a file copied onto an existing directory lands inside it;
a directory copied to a missing path becomes that path; ``SRC/.`` copies a
directory's contents; ``-`` is a tar stream on stdin/stdout. Without
``archive`` (``-a``) copied files belong to root in the container and to the
caller on the host.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import tempfile
from pathlib import Path

from freight.errors import FreightError, InvalidArgument, NotFound
from freight.runtime import syscalls as sc
from freight.runtime.containers import get
from freight.runtime.records import Container
from freight.runtime.rootfs import mount_snapshot, secure_join
from freight.store.compression import open_layer
from freight.store.layerapply import extract_archive

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import IO, Any, BinaryIO

    from freight.store import Store


def split_target(text: str) -> tuple[str | None, str]:
    """``CONTAINER:PATH`` -> (container, path); a local path (absolute, ``./x``, ``-``) -> (None, path)."""
    if text.startswith(("/", ".")) or ":" not in text:
        return None, text
    name, _, path = text.partition(":")
    return name, path


@contextlib.contextmanager
def container_root(store: Store, c: Container) -> Iterator[str]:
    """The directory that is ``/`` of container ``c`` for the duration of the copy."""
    if c.running:
        yield f"/proc/{c.pid}/root"
        return
    directory = c.directory(store)
    mounts = store.rootfs_mounts(store.resolve_image(c.image_id), directory)
    target = f"{directory}/cp.{os.getpid()}"
    os.makedirs(target, exist_ok=True)
    try:
        for m in mounts:
            mount_snapshot(m, target)
        try:
            _mount_volumes(target, c.record.get("Mounts") or [])
            yield target
        finally:
            sc.umount2(target, 2)  # MNT_DETACH: the volumes below go with it
    finally:
        os.rmdir(target)


def _mount_volumes(root: str, mounts: list[dict[str, Any]]) -> None:
    """Bind the stopped container's volumes and bind mounts where it sees them (when
    their mount point exists), so that ``cp`` reads and writes them as Docker's does."""
    for m in sorted(mounts, key=lambda m: m["Destination"].count("/")):
        if m["Type"] not in ("bind", "volume") or not os.path.isdir(m["Source"]):
            continue
        point = secure_join(root, m["Destination"])
        if not os.path.isdir(point):
            continue
        sc.mount(m["Source"], point, None, sc.MS_BIND | sc.MS_REC)
        if not m.get("RW", True):
            sc.mount(None, point, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)


def _in_root(root: str, path: str, follow: bool) -> str:
    """The host path of container ``path``; its last component is a symlink unless ``follow``."""
    if follow:
        return secure_join(root, path)
    parent, name = os.path.split(os.path.normpath("/" + path))
    if name in ("", ".."):
        return secure_join(root, path)
    return secure_join(root, parent).rstrip("/") + "/" + name


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _tar_of(real: str, name: str, contents: bool, out: IO[bytes], owner: int | None) -> None:
    """Write ``real`` as ``name`` (or, with ``contents``, its children under ``name``) to ``out``."""

    def own(info: tarfile.TarInfo) -> tarfile.TarInfo:
        if owner is not None:
            info.uid = info.gid = owner
            info.uname = info.gname = ""
        return info

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if not contents:
            tar.add(real, arcname=name, filter=own)
            return
        if name:
            tar.add(real, arcname=name, recursive=False, filter=own)
        for child in sorted(os.listdir(real)):
            tar.add(os.path.join(real, child), arcname=f"{name}/{child}" if name else child, filter=own)


def _chrooted(root: str, work: Callable[[Callable[[], None]], None]) -> str:
    """Run ``work(enter)`` in a child process, where ``enter()`` chroots it into ``root`` once what
    it needs from the host is opened; return the child's error ("" for none). Chrooted, no symlink
    the container swaps in during the copy can lead outside it (Docker's chrooted archiver)."""
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(err_r)

            def enter() -> None:
                os.chroot(root)
                os.chdir("/")

            work(enter)
        except BaseException as err:  # reported by the parent
            os.write(err_w, (str(err) or type(err).__name__).encode())
            code = 1
        os._exit(code)
    os.close(err_w)
    with open(err_r, "rb") as errors:
        message = errors.read().decode(errors="replace")
    os.waitpid(pid, 0)
    return message


def _tar_in_root(root: str, path: str, follow: bool, name: str, contents: bool, out: IO[bytes],
                 owner: int | None) -> None:
    """``_tar_of`` container ``path``, read by a child process chrooted into ``root``."""

    def work(enter: Callable[[], None]) -> None:
        enter()
        real = os.path.realpath(path) if follow else os.path.normpath("/" + path)
        _tar_of(real, name, contents, out, owner)
        out.flush()

    out.flush()
    message = _chrooted(root, work)
    if message:
        raise FreightError(f"copy from the container failed: {message}")


def _plan(src_path: str, src_st: os.stat_result, dest_path: str,
          dest_st: os.stat_result | None) -> tuple[str, bool]:
    """Docker's rules: (name of the copy inside the destination directory, copy contents only).

    ``name`` "" means the destination directory itself receives the contents.
    """
    is_dir = stat.S_ISDIR(src_st.st_mode)
    if src_path.endswith("/") and not is_dir:
        raise InvalidArgument(f"not a directory: {src_path}")
    contents = is_dir and (src_path.endswith("/.") or src_path == ".")
    base = os.path.basename(os.path.normpath(src_path))
    if dest_st is None:
        if dest_path.endswith("/") and not is_dir:
            raise InvalidArgument(f"destination directory {dest_path} does not exist")
        return os.path.basename(os.path.normpath(dest_path)), is_dir
    if stat.S_ISDIR(dest_st.st_mode):
        return ("", True) if contents else (base, False)
    if is_dir:
        raise InvalidArgument(f"cannot copy a directory to a file: {dest_path}")
    return os.path.basename(os.path.normpath(dest_path)), False


def copy_out(store: Store, ref: str, src: str, dest: str, archive: bool = False,
             follow: bool = False, stdout: BinaryIO | None = None) -> None:
    """``cp CONTAINER:SRC DEST`` (``DEST`` "-": a tar stream to ``stdout``)."""
    c = get(store, ref)
    with container_root(store, c) as root:
        real = _in_root(root, src, follow)
        src_st = _lstat(real)
        if src_st is None:
            raise NotFound(f"Could not find the file {src} in container {ref}")
        owner = None if archive else os.getuid()
        if dest == "-":
            assert stdout is not None
            contents = stat.S_ISDIR(src_st.st_mode) and src.endswith("/.")
            name = "" if contents else os.path.basename(os.path.normpath(src)) or "."
            _tar_in_root(root, src, follow, name, contents, stdout, None)
            return
        dest_st = os.stat(dest) if os.path.exists(dest) else None
        name, contents = _plan(src, src_st, dest, dest_st)
        into = dest_st is not None and stat.S_ISDIR(dest_st.st_mode)
        target_dir = dest if into else os.path.dirname(os.path.abspath(dest))
        if not os.path.isdir(target_dir):
            raise InvalidArgument(f"destination directory {target_dir} does not exist")
        with tempfile.TemporaryFile() as spool:
            _tar_in_root(root, src, follow, name, contents, spool, owner)
            spool.seek(0)
            try:
                extract_archive(spool, Path(target_dir))
            except FreightError as err:
                raise FreightError(f"copy from the container failed: {err}") from None


def copy_in(store: Store, ref: str, src: str, dest: str, archive: bool = False,
            follow: bool = False, stdin: BinaryIO | None = None) -> None:
    """``cp SRC CONTAINER:DEST`` (``SRC`` "-": a tar stream from ``stdin`` into directory DEST)."""
    c = get(store, ref)
    with container_root(store, c) as root:
        dest_real = _in_root(root, dest, True)
        dest_st = _lstat(dest_real)
        if src == "-":
            assert stdin is not None
            if dest_st is None or not stat.S_ISDIR(dest_st.st_mode):
                raise InvalidArgument(f"destination \"{c.name}:{dest}\" must be a directory")
            _extract(root, dest, stdin, None if archive else 0)
            return
        local = os.path.realpath(src) if follow else src
        src_st = _lstat(local)
        if src_st is None:
            raise NotFound(f"could not find the file {src}")
        name, contents = _plan(src, src_st, dest, dest_st)
        if dest_st is not None and stat.S_ISDIR(dest_st.st_mode):
            inside = dest
        else:
            inside = os.path.dirname(os.path.normpath("/" + dest))
            if _lstat(_in_root(root, inside, True)) is None:
                raise InvalidArgument(f"destination directory {inside} does not exist in container {ref}")
        with tempfile.TemporaryFile() as spool:
            _tar_of(local, name, contents, spool, None if archive else 0)
            spool.seek(0)
            _extract(root, inside, spool, None)


def _extract(root: str, inside: str, stream: BinaryIO, owner: int | None) -> None:
    """Unpack tar ``stream`` (plain or compressed, as Docker takes it) into container directory
    ``inside``, by a child process chrooted into ``root``."""
    def work(enter: Callable[[], None]) -> None:
        with open_layer(stream) as tar:  # its codec is imported from the host, before the chroot
            enter()
            extract_archive(tar, Path("/"), into=inside, owner=None if owner is None else (owner, owner))

    message = _chrooted(root, work)
    if message:
        raise FreightError(f"copy into the container failed: {message}")
