""".dockerignore semantics, with cases from moby/patternmatcher's own tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from freight.builder.dockerignore import (
    IgnoreFileError,
    find_ignore_file,
    go_clean,
    is_excluded,
    load_patterns,
    make_pattern,
    read_patterns,
    walk_context,
)


def excluded(path: str, *patterns: str) -> bool:
    """Match ``path`` against patterns given as .dockerignore lines."""
    return is_excluded(path, read_patterns("\n".join(patterns)))


# (pattern, path, matches) from patternmatcher's TestMatches (parent matching on)
MATCH_CASES = [
    ("**", "file", True), ("**", "file/", True), ("**/", "file", True), ("**", "dir/file", True),
    ("**/**", "dir/file", True), ("dir/**", "dir/file", True), ("dir/**", "dir/dir2/file", True),
    ("**/dir", "dir", True), ("**/dir", "dir/file", True), ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True), ("**file", "file", True), ("**file", "dir/file", True),
    ("**/file", "dir/file", True), ("**file", "dir/dir/file", True), ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True), ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True), ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True), ("**/**/*.txt", "file.txt", True), ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True), ("a/*.txt", "a/dir/file.txt", False), ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True), ("a[b-d]e", "ae", False), ("a[b-d]e", "ace", True), ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True), (".*", ".foo", True), (".*", "foo", False), ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True), ("abc.def", "abcZdef", False), ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("**/foo/bar", "foo/bar", True), ("**/foo/bar", "dir/dir2/foo/bar", True), ("abc/**", "abc", False),
    ("abc/**", "abc/def/ghi", True), ("**/.foo", ".foo", True), ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True), ("a(b)c/def", "a(b)c/xyz", False), ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\\\", "a\\", True), ("a\\*b", "a*b", True), ("a\\*b", "ab", False),
    # Go filepath.Match cases
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True), ("a*", "ab/c", True),
    ("a*/b", "abc/b", True), ("a*/b", "a/c/b", False), ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False), ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False), ("ab[^c]", "abc", False), ("ab[^e-g]", "abc", True),
    ("a?b", "a☺b", True), ("a[^a]b", "a☺b", True), ("a???b", "a☺b", False), ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False), ("a?b", "a/b", False), ("a*b", "a/b", False), ("[\\]a]", "]", True),
    ("[\\-]", "-", True), ("[x\\-]", "-", True), ("[x\\-]", "z", False), ("[\\-x]", "x", True), ("*x", "xxx", True),
    # directories exclude what is inside them
    ("docs", "docs/README.md", True), ("docs/", "docs/a/b", True), ("/docs", "docs/x", True),
    ("./docs", "docs/x", True),
    ("docs", "other/docs", False), ("*/tmp", "a/tmp/x", True), ("*/tmp", "a/b/tmp", False),
]


@pytest.mark.parametrize("pattern,path,expected", MATCH_CASES)
def test_match(pattern: str, path: str, expected: bool) -> None:
    assert excluded(path, pattern) is expected


@pytest.mark.parametrize("bad", ["[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]"])
def test_bad_patterns(bad: str) -> None:
    with pytest.raises(IgnoreFileError) as info:
        read_patterns(bad + "\n")
    assert "syntax error in pattern" in str(info.value)
    assert info.value.exit_code == 1


def test_lone_exclamation_is_an_error() -> None:
    with pytest.raises(IgnoreFileError, match='illegal exclusion pattern: "!"'):
        read_patterns("!\n")


def test_make_pattern_is_patternmatcher_new() -> None:
    # Without the .dockerignore reader a leading "/" is kept (and never matches).
    pattern = make_pattern("  /docs ")
    assert pattern is not None and pattern.text == "/docs"
    assert not is_excluded("docs/x", [pattern])
    assert make_pattern("   ") is None


# (patterns, path, excluded) with exceptions: the last matching pattern wins
MULTI_CASES = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/other.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
    (["*", "!keep"], "keep", False),
    ([], "anything", False),
]


@pytest.mark.parametrize("patterns,path,expected", MULTI_CASES)
def test_exceptions(patterns: list[str], path: str, expected: bool) -> None:
    assert excluded(path, *patterns) is expected


def test_context_root_is_never_excluded() -> None:
    assert not excluded(".", "*")
    assert not excluded("./", "**")


def test_read_patterns_normalizes() -> None:
    text = "\ufeff# comment\n\n   \n  *.pyc  \n/build/\n./tmp/../cache\n! /keep/me \n#!notexception\n a//b/./c \n"
    assert [str(p) for p in read_patterns(text)] == ["*.pyc", "build", "cache", "!keep/me", "a/b/c"]


def test_crlf_lines() -> None:
    assert [str(p) for p in read_patterns("a\r\n# c\r\n!b\r\n")] == ["a", "!b"]


def test_comment_only_at_line_start() -> None:
    # Only a leading '#' makes a comment; " #x" is a pattern named "#x".
    assert [str(p) for p in read_patterns(" #x\n")] == ["#x"]


@pytest.mark.parametrize("raw,clean", [
    ("a/b/../c", "a/c"), ("./a", "a"), ("a//b", "a/b"), ("/..", "/"), ("//a", "/a"), ("", "."), ("a/", "a"),
    ("..", ".."),
])
def test_go_clean(raw: str, clean: str) -> None:
    assert go_clean(raw) == clean


def make_tree(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)


def test_walk_context(tmp_path: Path) -> None:
    make_tree(tmp_path, ["Dockerfile", "app.py", "a.pyc", "src/m.py", "src/m.pyc", "node_modules/x/y.js",
                         "docs/a.md", "docs/keep/b.md", ".git/HEAD"])
    (tmp_path / "empty").mkdir()
    os.symlink("app.py", tmp_path / "link")
    patterns = read_patterns("**/*.pyc\nnode_modules\ndocs\n!docs/keep\n.git\n")
    assert list(walk_context(tmp_path, patterns)) == [
        "Dockerfile", "app.py", "docs", "docs/keep", "docs/keep/b.md", "empty", "link", "src", "src/m.py",
    ]


def test_walk_enters_excluded_dir_for_wildcard_exception(tmp_path: Path) -> None:
    make_tree(tmp_path, ["vendor/a/keep.txt", "vendor/a/drop.bin", "vendor/b/drop.bin", "main.c"])
    patterns = read_patterns("vendor\n!vendor/*/keep.txt\n")
    assert list(walk_context(tmp_path, patterns)) == ["main.c", "vendor", "vendor/a", "vendor/a/keep.txt"]


def test_walk_skips_excluded_dir_without_exceptions(tmp_path: Path) -> None:
    make_tree(tmp_path, ["big/1", "big/2", "x", "other/1"])
    assert list(walk_context(tmp_path, read_patterns("big\n!other/1\n"))) == ["other", "other/1", "x"]


def test_walk_everything_excluded_but_one(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a/b/c.txt", "a/b/d.txt", "e.txt"])
    assert list(walk_context(tmp_path, read_patterns("*\n!a/b/c.txt\n"))) == ["a", "a/b", "a/b/c.txt"]


def test_walk_does_not_follow_symlinked_dirs(tmp_path: Path) -> None:
    make_tree(tmp_path, ["real/f"])
    os.symlink("real", tmp_path / "alias")
    assert list(walk_context(tmp_path, [])) == ["alias", "real", "real/f"]


def test_find_ignore_file_precedence(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    dockerfile = tmp_path / "build" / "web.Dockerfile"
    dockerfile.write_text("FROM a\n")
    assert find_ignore_file(tmp_path, dockerfile) is None
    (tmp_path / ".dockerignore").write_text("generic\n")
    assert find_ignore_file(tmp_path, dockerfile) == tmp_path / ".dockerignore"
    specific = tmp_path / "build" / "web.Dockerfile.dockerignore"
    specific.write_text("specific\n!keep\n")
    assert find_ignore_file(tmp_path, dockerfile) == specific
    assert [str(p) for p in load_patterns(tmp_path, dockerfile)] == ["specific", "!keep"]
    assert [str(p) for p in load_patterns(tmp_path)] == ["generic"]


def test_default_dockerfile_specific_ignore(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM a\n")
    (tmp_path / "Dockerfile.dockerignore").write_text("x\n")
    (tmp_path / ".dockerignore").write_text("y\n")
    assert [str(p) for p in load_patterns(tmp_path, tmp_path / "Dockerfile")] == ["x"]
    assert load_patterns(tmp_path / "missing") == []
