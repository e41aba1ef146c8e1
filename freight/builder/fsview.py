"""A read-only view of a stack of overlay snapshot dirs, without mounting anything.

COPY and ADD read the filesystem of the image they copy into (does the
destination exist, is it a directory, does a path go through a symlink) and
``COPY --from`` reads another stage's files. Both are answered here from the
snapshot dirs themselves, with overlayfs's rules: the top-most layer that has
a name wins, a 0:0 character device is a whiteout, a directory with
``trusted.overlay.opaque=y`` (``user.`` rootless) hides everything below it. Paths are
slash-separated and relative to the root (``""`` is the root itself).
"""

from __future__ import annotations

import os
import stat

from freight.store.tarformat import opaque_xattr

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Sequence

_MAX_HOPS = 255


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, opaque_xattr(), follow_symlinks=False) == b"y"
    except OSError:
        return False


def split(rel: str) -> list[str]:
    """The components of a path, with ``.`` dropped and ``..`` stopped at the root."""
    out: list[str] = []
    for part in rel.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    return out


class RootFS:
    """The merged filesystem of ``layers`` (bottom first), as overlayfs would show it."""

    def __init__(self, layers: Sequence[str | os.PathLike[str]]) -> None:
        self.top_first = [os.fspath(p) for p in reversed(layers)]
        self._dirs: dict[str, bool] = {}  # single layer: is this path a real directory?

    def _is_real_dir(self, rel: str) -> bool:
        """Whether ``rel`` and each of its parents is a directory, not a symlink (memoised)."""
        known = self._dirs.get(rel)
        if known is None:
            parent, _, _ = rel.rpartition("/")
            st = _lstat(f"{self.top_first[0]}/{rel}") if not parent or self._is_real_dir(parent) else None
            known = self._dirs[rel] = st is not None and stat.S_ISDIR(st.st_mode)
        return known

    def _holders(self, parts: list[str]) -> list[str]:
        """Real paths of the entry in every layer that contributes to it, top first."""
        if len(self.top_first) == 1:  # a context, or one snapshot: nothing below to hide
            if len(parts) > 1 and not self._is_real_dir("/".join(parts[:-1])):
                return []
            path = f"{self.top_first[0]}/{'/'.join(parts)}" if parts else self.top_first[0]
            st = _lstat(path)
            return [] if st is None or _is_whiteout(st) else [path]
        layers = self.top_first
        for depth in range(len(parts)):
            rel = "/".join(parts[: depth + 1])
            found: list[str] = []
            for layer in layers:
                path = f"{layer}/{rel}"
                st = _lstat(path)
                if st is None:
                    continue
                if _is_whiteout(st):
                    break
                found.append(layer)
                if not stat.S_ISDIR(st.st_mode) or _is_opaque(path):
                    break
            if not found:
                return []
            layers = found
            if depth < len(parts) - 1 and not stat.S_ISDIR(os.lstat(f"{found[0]}/{rel}").st_mode):
                return []
        return [f"{layer}/{'/'.join(parts)}" if parts else layer for layer in layers]

    def real(self, rel: str) -> str | None:
        """The real path of the entry at ``rel`` (no symlink followed), or None."""
        holders = self._holders(split(rel))
        return holders[0] if holders else None

    def lstat(self, rel: str) -> os.stat_result | None:
        path = self.real(rel)
        return os.lstat(path) if path else None

    def listdir(self, rel: str) -> list[str]:
        """The names in directory ``rel``, sorted, whiteouts applied."""
        seen: set[str] = set()
        hidden: set[str] = set()
        for holder in self._holders(split(rel)):
            with os.scandir(holder) as it:
                for entry in it:
                    if entry.name in seen:
                        continue
                    seen.add(entry.name)
                    if _is_whiteout(entry.stat(follow_symlinks=False)):
                        hidden.add(entry.name)
        return sorted(seen - hidden)

    def resolve(self, rel: str, follow_last: bool = True) -> str:
        """``rel`` with every symlink resolved inside this root, as a chroot would."""
        todo = split(rel)
        done: list[str] = []
        hops = 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = done + [part]
            path = self.real("/".join(candidate))
            if path is None or (not todo and not follow_last) or not os.path.islink(path):
                done = candidate
                continue
            hops += 1
            if hops > _MAX_HOPS:
                raise OSError(40, f"too many levels of symbolic links: /{rel}")
            target = os.readlink(path)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p not in ("", ".")] + todo
        return "/".join(done)
