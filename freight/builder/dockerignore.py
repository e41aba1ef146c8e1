""".dockerignore reading and matching, with Docker's semantics (moby/patternmatcher).

Patterns use Go ``filepath.Match`` syntax (``*`` and ``?`` do not cross
``/``, ``[...]`` classes with ``^`` negation, ``\\`` escapes) plus ``**`` for
any number of directories.  A line starting with ``#`` is a comment, blank
lines are skipped, ``!`` makes an exception, leading ``/`` and ``./`` are
dropped and every pattern is cleaned like Go's ``filepath.Clean``.  The last
pattern that matches a path (or one of its parent directories) decides.

Public API:

* ``read_patterns(text, source=".dockerignore") -> list[Pattern]``
* ``is_excluded(path, patterns) -> bool`` for a slash-separated path relative
  to the context root (Docker's ``MatchesOrParentMatches``).
* ``walk_context(root, patterns) -> Iterator[str]``: the included entries of a
  context directory (files, symlinks, directories) as relative POSIX paths in
  a stable order, parents before children.  Excluded directories are not
  entered unless an exception pattern could match inside them; an excluded
  directory that holds included entries is still listed (before them) so a
  tar of the walk is well formed.  Symlinks are listed, never followed.
* ``find_ignore_file(context_dir, dockerfile=None)``: ``<Dockerfile>.dockerignore``
  next to the Dockerfile wins over ``<context>/.dockerignore``.
* ``load_patterns(context_dir, dockerfile=None)``: read whichever applies.

Bad patterns raise ``IgnoreFileError`` (exit code 1, like a failed build).
"""

from __future__ import annotations

import os
import posixpath
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from freight.errors import FreightError

_REGEX_SPECIALS = frozenset(".+()|{}$")


class IgnoreFileError(FreightError):
    """A .dockerignore pattern Docker cannot use."""

    exit_code = 1


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` for slash-separated paths."""
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def _class_item(pattern: str, i: int) -> int:
    """Index after one character of a ``[...]`` class; -1 when malformed."""
    if i >= len(pattern) or pattern[i] in "-]":
        return -1
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            return -1
    i += 1
    return i if i < len(pattern) else -1


def _class_end(pattern: str, i: int) -> int:
    """Index after the class opened at ``pattern[i-1]``; -1 when malformed."""
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    count = 0
    while True:
        if i < len(pattern) and pattern[i] == "]" and count:
            return i + 1
        i = _class_item(pattern, i)
        if i < 0:
            return -1
        if pattern[i] == "-":
            i = _class_item(pattern, i + 1)
            if i < 0:
                return -1
        count += 1


def valid_pattern(pattern: str) -> bool:
    """Whether Go's ``filepath.Match`` accepts ``pattern``."""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern):
                return False
            i += 2
        elif ch == "[":
            i = _class_end(pattern, i + 1)
            if i < 0:
                return False
        else:
            i += 1
    return True


class Pattern:
    """One cleaned pattern; ``exclusion`` is true for ``!`` exceptions."""

    def __init__(self, text: str, exclusion: bool = False) -> None:
        self.text = text
        self.exclusion = exclusion
        self._regex: re.Pattern[str] | None = None
        self._kind, regex = _compile(text)
        if regex is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                try:
                    self._regex = re.compile(regex)
                except re.error:
                    raise IgnoreFileError(f"syntax error in pattern: {self.text}") from None

    def __str__(self) -> str:
        return ("!" if self.exclusion else "") + self.text

    def match(self, path: str) -> bool:
        """Whether ``path`` itself (not its parents) matches."""
        if self._kind == "exact":
            return path == self.text
        if self._kind == "prefix":
            return path.startswith(self.text[:-2])
        if self._kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self._regex is not None
        return self._regex.match(path) is not None


def _compile(pattern: str) -> tuple[str, str | None]:
    """patternmatcher's compile: a match kind and, for "regex", the regex."""
    out = ["^"]
    kind = "exact"
    i, n = 0, len(pattern)
    first = True
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*" and i < n and pattern[i] == "*":
            i += 1
            if i < n and pattern[i] == "/":
                i += 1
            if i >= n:
                if kind == "exact":
                    kind = "prefix"
                else:
                    out.append(".*")
                    kind = "regex"
            else:
                out.append("(.*/)?")
                kind = "regex"
            if first:
                kind = "suffix"
        elif ch == "*":
            out.append("[^/]*")
            kind = "regex"
        elif ch == "?":
            out.append("[^/]")
            kind = "regex"
        elif ch in _REGEX_SPECIALS:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
                kind = "regex"
            else:
                out.append("\\\\")
        elif ch in "[]":
            out.append(ch)
            kind = "regex"
        else:
            out.append(ch)
        first = False
    if kind != "regex":
        return kind, None
    return kind, "".join(out) + r"\Z"


def _normalize(line: str) -> str | None:
    """ignorefile.ReadAll for one line: None for comments and blank lines."""
    if line.startswith("#"):
        return None
    pattern = line.strip()
    if not pattern:
        return None
    invert = pattern.startswith("!")
    if invert:
        pattern = pattern[1:].strip()
    if pattern:
        pattern = go_clean(pattern)
        if len(pattern) > 1 and pattern.startswith("/"):
            pattern = pattern[1:]
    return "!" + pattern if invert else pattern


def make_pattern(raw: str) -> Pattern | None:
    """patternmatcher.New for one pattern string (None when blank)."""
    text = raw.strip()
    if not text:
        return None
    text = go_clean(text)
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            raise IgnoreFileError('illegal exclusion pattern: "!"')
        text = text[1:]
    if not valid_pattern(text):
        raise IgnoreFileError(f"syntax error in pattern: {text}")
    return Pattern(text, exclusion)


def read_patterns(text: str) -> list[Pattern]:
    """Patterns of a .dockerignore file's text, in order."""
    if text.startswith("\ufeff"):
        text = text[1:]
    patterns: list[Pattern] = []
    for line in text.split("\n"):
        raw = _normalize(line.removesuffix("\r"))
        pattern = make_pattern(raw) if raw is not None else None
        if pattern is not None:
            patterns.append(pattern)
    return patterns


def _parent_dirs(path: str) -> list[str]:
    parent = posixpath.dirname(path)
    if parent in ("", "."):
        return []
    parts = parent.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def is_excluded(path: str, patterns: Sequence[Pattern]) -> bool:
    """Whether ``path`` (relative, slash-separated) is left out of the context."""
    path = go_clean(path)
    if path == ".":
        return False
    parents = _parent_dirs(path)
    matched = False
    for pattern in patterns:
        if pattern.exclusion != matched:
            continue
        hit = pattern.match(path) or any(pattern.match(p) for p in parents)
        if hit:
            matched = not pattern.exclusion
    return matched


def _may_match_inside(pattern: Pattern, directory: str) -> bool:
    """Whether ``pattern`` could match a path below ``directory``."""
    dir_parts = directory.split("/")
    pat_parts = pattern.text.split("/")
    for i, part in enumerate(dir_parts):
        if i >= len(pat_parts):
            return False
        if "**" in pat_parts[i]:
            return True
        try:
            if not Pattern(pat_parts[i]).match(part):
                return False
        except IgnoreFileError:
            return True
    return len(pat_parts) > len(dir_parts)


def _must_enter(directory: str, patterns: Sequence[Pattern]) -> bool:
    return any(p.exclusion and _may_match_inside(p, directory) for p in patterns)


def walk_context(root: str | os.PathLike[str], patterns: Sequence[Pattern]) -> Iterator[str]:
    """Included entries below ``root`` as relative POSIX paths (see module docs)."""
    yield from _walk(os.fspath(root), "", patterns, [])


def _walk(top: str, rel: str, patterns: Sequence[Pattern], pending: list[str]) -> Iterator[str]:
    """Walk one directory; ``pending`` holds excluded parents not yet listed."""
    with os.scandir(os.path.join(top, rel) if rel else top) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        if not is_excluded(path, patterns):
            yield from pending
            pending.clear()
            yield path
            if is_dir:
                yield from _walk(top, path, patterns, pending)
        elif is_dir and _must_enter(path, patterns):
            depth = len(pending)
            pending.append(path)
            yield from _walk(top, path, patterns, pending)
            del pending[depth:]


def find_ignore_file(context_dir: str | os.PathLike[str],
                     dockerfile: str | os.PathLike[str] | None = None) -> Path | None:
    """The ignore file that applies: ``<Dockerfile>.dockerignore`` first."""
    if dockerfile is not None:
        specific = Path(os.fspath(dockerfile) + ".dockerignore")
        if specific.is_file():
            return specific
    generic = Path(context_dir) / ".dockerignore"
    return generic if generic.is_file() else None


def load_patterns(context_dir: str | os.PathLike[str],
                  dockerfile: str | os.PathLike[str] | None = None) -> list[Pattern]:
    """Patterns of the ignore file that applies, or none."""
    path = find_ignore_file(context_dir, dockerfile)
    if path is None:
        return []
    return read_patterns(path.read_text(encoding="utf-8", errors="surrogateescape"))
