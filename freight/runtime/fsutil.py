"""Small filesystem helpers for container and volume directories (no shutil import cost)."""

from __future__ import annotations

import os
import stat


def remove_tree(path: str) -> None:
    """Remove ``path`` and everything below it; a missing path is fine.

    Works on overlay upper/work dirs whose modes forbid access (root ignores them)
    and never follows a symlink out of the tree.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            remove_tree(entry.path)
        else:
            os.unlink(entry.path)
    os.rmdir(path)


def copy_tree(source: str, target: str) -> None:
    """Copy ``source``'s content into the existing dir ``target``, keeping owners, modes,
    times and symlinks (a volume's first content, copied from the image)."""
    for entry in os.scandir(source):
        src, dst = entry.path, f"{target}/{entry.name}"
        st = entry.stat(follow_symlinks=False)
        if entry.is_symlink():
            os.symlink(os.readlink(src), dst)
        elif entry.is_dir(follow_symlinks=False):
            os.mkdir(dst)
            copy_tree(src, dst)
        elif stat.S_ISREG(st.st_mode):
            with open(src, "rb") as fin, open(dst, "wb") as fout:
                while chunk := fin.read(1 << 20):
                    fout.write(chunk)
        else:
            os.mknod(dst, st.st_mode, st.st_rdev)
        os.lchown(dst, st.st_uid, st.st_gid)
        if not entry.is_symlink():
            os.chmod(dst, stat.S_IMODE(st.st_mode))
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    st = os.stat(source)
    os.chown(target, st.st_uid, st.st_gid)
    os.chmod(target, stat.S_IMODE(st.st_mode))
