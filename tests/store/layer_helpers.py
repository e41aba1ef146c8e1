"""Trees, tars and mounts shared by the layer write/apply/compression tests."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# security.capability v2 with the effective flag and CAP_NET_BIND_SERVICE permitted.
CAP_NET_BIND = struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)
LONG_DIR = "d" * 60 + "/" + "e" * 70
LONG_FILE = "f" * 120

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (device nodes, chown, trusted xattrs)")


def make_tree(root: Path) -> None:
    """A directory holding every entry type a layer can carry."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "etc").mkdir()
    (root / "etc/hostname").write_bytes(b"freight\n")
    (root / "etc/big").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (root / "empty").write_bytes(b"")
    (root / "bin").mkdir(mode=0o755)
    (root / "bin/tool").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(root / "bin/tool", 0o4755)
    os.setxattr(root / "bin/tool", "security.capability", CAP_NET_BIND)
    os.setxattr(root / "bin/tool", "user.note", b"\x00\xffbinary")
    os.link(root / "bin/tool", root / "bin/tool-alias")
    os.symlink("tool", root / "bin/link")
    os.symlink("/does/not/exist", root / "bin/dangling")
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    (root / "srv").mkdir()
    os.chmod(root / "srv", 0o2750)
    os.chown(root / "srv", 1000, 1001)
    (root / "srv/owned").write_bytes(b"mine")
    os.chown(root / "srv/owned", 1000, 1001)
    os.lchown(root / "bin/link", 33, 33)
    os.mkfifo(root / "fifo", 0o640)
    (root / "dev").mkdir()
    os.mknod(root / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(root / "dev/loop9", stat.S_IFBLK | 0o660, os.makedev(7, 9))
    (root / LONG_DIR).mkdir(parents=True)
    (root / LONG_DIR / LONG_FILE).write_bytes(b"long")
    (root / "ünïcode").write_bytes(b"utf8 name")
    for i, path in enumerate(sorted(root.rglob("*"), reverse=True)):
        os.utime(path, (1_600_000_000 + i, 1_700_000_000 + i), follow_symlinks=False)


def _xattrs(path: Path) -> dict[str, bytes]:
    names = os.listxattr(path, follow_symlinks=False)
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in sorted(names)}


def describe(root: Path) -> dict[str, tuple]:
    """Everything about a tree that a layer round trip must keep, keyed by relative path."""
    seen: dict[tuple[int, int], str] = {}
    out: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(root))
        if stat.S_ISREG(st.st_mode):
            body: object = hashlib.sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            body = os.readlink(path)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            body = (os.major(st.st_rdev), os.minor(st.st_rdev))
        else:
            body = None
        first = seen.setdefault((st.st_dev, st.st_ino), rel) if st.st_nlink > 1 else rel
        out[rel] = (
            stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
            st.st_nlink if not stat.S_ISDIR(st.st_mode) else None, first, body,
            int(st.st_mtime), _xattrs(path),
        )
    return out


@contextmanager
def overlay_mount(lowers: list[Path], merged: Path, upper: Path | None = None,
                  work: Path | None = None) -> Iterator[Path]:
    """Mount overlayfs (read-only when no upper) and unmount it afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("overlay mounts need root and mount(8)")
    merged.mkdir(parents=True, exist_ok=True)
    options = "lowerdir=" + ":".join(str(p) for p in lowers)
    if upper is not None and work is not None:
        options += f",upperdir={upper},workdir={work}"
    result = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount overlayfs here: {result.stderr.decode().strip()}")
    try:
        yield merged
    finally:
        subprocess.run(["umount", str(merged)], check=True)
