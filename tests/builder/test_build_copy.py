"""COPY and ADD semantics, .dockerignore, and reproducible layers."""

from __future__ import annotations

import bz2
import gzip
import http.server
import lzma
import os
import shutil
import tarfile
import threading
from pathlib import Path

import pytest
from imagelib import member, sha256_digest, tar_bytes, tar_of

from freight.builder.state import BuildError
from freight.store import Store
from tests.builder.buildutil import BASE_TIME, config, do_build, layer_file, layer_members, write_context

FILES = {"a.txt": "A\n", "b.txt": "B\n", "dir/one": "1\n", "dir/sub/two": "2\n", "x.py": "X\n"}

# (COPY line, expected entries of the new layer: name -> "d" for a directory or file content)
COPY_TABLE = [
    ("COPY a.txt /dst", {"dst": "A\n"}),
    ("COPY a.txt /dst/", {"dst": "d", "dst/a.txt": "A\n"}),
    ("COPY a.txt b.txt /dst/", {"dst": "d", "dst/a.txt": "A\n", "dst/b.txt": "B\n"}),
    ("COPY *.txt /dst/", {"dst": "d", "dst/a.txt": "A\n", "dst/b.txt": "B\n"}),
    ("COPY dir /dst", {"dst": "d", "dst/one": "1\n", "dst/sub": "d", "dst/sub/two": "2\n"}),
    ("COPY dir/ /dst/", {"dst": "d", "dst/one": "1\n", "dst/sub": "d", "dst/sub/two": "2\n"}),
    ("COPY dir/sub /etc/", {"etc": "d", "etc/two": "2\n"}),
    ("COPY a.txt /etc", {"etc": "d", "etc/a.txt": "A\n"}),   # an existing directory
    ("COPY a.txt rel", {"work": "d", "work/rel": "A\n"}),
    ("COPY --parents dir/sub/two a.txt /p/", {"p": "d", "p/a.txt": "A\n", "p/dir": "d", "p/dir/sub": "d",
                                              "p/dir/sub/two": "2\n"}),
    ("COPY --exclude=*.txt . /all/", {"all": "d", "all/x.py": "X\n", "all/dir": "d", "all/dir/one": "1\n",
                                      "all/dir/sub": "d", "all/dir/sub/two": "2\n", "all/Dockerfile": None}),
]


@pytest.mark.parametrize("line,expected", COPY_TABLE, ids=[c[0] for c in COPY_TABLE])
def test_copy_semantics(busybox_store: Store, tmp_path: Path, line: str, expected: dict) -> None:
    ctx = write_context(tmp_path / "ctx", {**FILES, "Dockerfile": f"FROM busybox\nWORKDIR /work\n{line}\n"})
    result, _ = do_build(busybox_store, ctx)
    members = layer_members(busybox_store, result.image_id)
    got = {}
    for name, m in members.items():
        name = name.rstrip("/")
        if name.endswith("Dockerfile"):
            got[name] = None
        else:
            got[name] = "d" if m.isdir() else layer_file(busybox_store, result.image_id, name).decode()
    assert got == expected
    for m in members.values():
        assert (m.uid, m.gid) == (0, 0)
        if m.name.startswith("etc"):
            continue  # /etc keeps the base image's metadata
        assert m.mtime == BASE_TIME


def test_copy_chown_chmod_and_symlinks(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"f": "x", "d/inner": "y"})
    os.symlink("inner", ctx / "d" / "link")
    os.symlink("d", ctx / "dirlink")
    os.chmod(ctx / "f", 0o700)
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY --chown=nobody:www-data f /f\n"
                                    "COPY --chmod=640 --chown=33 d /d\nCOPY f /plain\n"
                                    "COPY dirlink/link /via-links\n")
    result, _ = do_build(busybox_store, ctx)
    f = layer_members(busybox_store, result.image_id, 1)["f"]
    assert (f.uid, f.gid, f.mode) == (65534, 33, 0o700)
    d = layer_members(busybox_store, result.image_id, 2)
    assert (d["d/inner"].uid, d["d/inner"].gid, d["d/inner"].mode) == (33, 33, 0o640)
    assert d["d/link"].issym() and d["d/link"].linkname == "inner"
    assert layer_file(busybox_store, result.image_id, "via-links", 4) == b"y"  # the source path is followed
    plain = layer_members(busybox_store, result.image_id, 3)["plain"]
    assert (plain.uid, plain.gid, plain.mode) == (0, 0, 0o700)
    assert config(busybox_store, result.image_id)["history"][-4]["created_by"] == \
        "COPY --chown=nobody:www-data f /f # buildkit"


def test_copy_errors(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"a": "1", "b": "2", "Dockerfile": "FROM busybox\nCOPY a b /notdir\n"})
    with pytest.raises(BuildError, match="must be a directory and end with a /"):
        do_build(busybox_store, ctx)
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY *.none /x/\n")
    with pytest.raises(BuildError, match=r'"/\*.none": not found'):
        do_build(busybox_store, ctx)


def test_dockerignore(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {
        "keep.txt": "k", "secret.env": "s", "logs/a.log": "l", "logs/important.log": "i",
        ".dockerignore": "*.env\nlogs\n!logs/important.log\n",
        "Dockerfile": "FROM busybox\nCOPY . /ctx/\n"})
    result, _ = do_build(busybox_store, ctx)
    names = {n.rstrip("/") for n in layer_members(busybox_store, result.image_id)}
    assert names == {"ctx", "ctx/keep.txt", "ctx/logs", "ctx/logs/important.log", "ctx/.dockerignore",
                     "ctx/Dockerfile"}
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY secret.env /\n")
    with pytest.raises(BuildError, match='"/secret.env": not found'):
        do_build(busybox_store, ctx)


def test_add_extracts_local_archives(busybox_store: Store, tmp_path: Path) -> None:
    raw = tar_of({"pkg/file": b"content\n"}, mtime=1234567890, uid=7)
    ctx = write_context(tmp_path / "ctx", {
        "plain.tar": raw, "g.tar.gz": gzip.compress(raw), "b.tar.bz2": bz2.compress(raw),
        "x.tar.xz": lzma.compress(raw), "Dockerfile": """\
FROM busybox
ADD plain.tar /plain/
ADD g.tar.gz /g
ADD b.tar.bz2 x.tar.xz /multi/
COPY g.tar.gz /copied/
"""})
    result, _ = do_build(busybox_store, ctx)
    for index, prefix in ((1, "plain"), (2, "g"), (3, "multi")):
        members = layer_members(busybox_store, result.image_id, index)
        assert members[f"{prefix}/pkg/file"].uid == 7
        assert layer_file(busybox_store, result.image_id, f"{prefix}/pkg/file", index) == b"content\n"
    assert "copied/g.tar.gz" in layer_members(busybox_store, result.image_id, 4)


def test_add_unpacks_an_archive_as_docker_does(busybox_store: Store, tmp_path: Path) -> None:
    """Owners, modes and mtimes kept; whiteout names are plain files; the archive's "." leaves the
    destination as it was; links kept; ``--chown`` owns every entry (BuildKit since 0.23); the
    directories it implies get the layer's fixed mtime, so the layer is reproducible."""
    import zstandard

    raw = tar_bytes([
        member("./", tarfile.DIRTYPE, mode=0o700, uid=5, mtime=1_000_000_000),
        member("d/", tarfile.DIRTYPE, mode=0o750, uid=11, gid=12),
        member("d/f", data=b"f", uid=1234, gid=4321, mode=0o4755, mtime=1_500_000_000),
        member(".wh.gone"), member("keep/.wh..wh..opq"),
        member("hl", tarfile.LNKTYPE, linkname="d/f"), member("sym", tarfile.SYMTYPE, linkname="/etc/passwd"),
    ])
    ctx = write_context(tmp_path / "ctx", {
        "a.tar.zst": zstandard.ZstdCompressor().compress(raw), "gone": "lower\n",
        "Dockerfile": "FROM busybox\nCOPY gone /dest/\nADD a.tar.zst /dest/\nADD --chown=5:6 a.tar.zst /owned/\n"})
    result, _ = do_build(busybox_store, ctx)
    added = layer_members(busybox_store, result.image_id, 2)
    assert (added["dest"].mode, added["dest"].uid, added["dest"].mtime) == (0o755, 0, BASE_TIME)
    assert (added["dest/d"].mode, added["dest/d"].uid, added["dest/d"].gid) == (0o750, 11, 12)
    f = added["dest/d/f"]
    assert (f.mode, f.uid, f.gid, f.mtime) == (0o4755, 1234, 4321, 1_500_000_000)
    assert added["dest/.wh.gone"].isreg() and added["dest/keep/.wh..wh..opq"].isreg()
    assert added["dest/hl"].islnk() and added["dest/hl"].linkname == "dest/d/f"
    assert added["dest/sym"].linkname == "/etc/passwd"
    owned = layer_members(busybox_store, result.image_id, 3)
    assert {(m.uid, m.gid) for m in owned.values()} == {(5, 6)}
    assert owned["owned/keep"].mtime == BASE_TIME  # implied by "keep/.wh..wh..opq", not in the archive


@pytest.mark.parametrize("name, members, message", [
    ("two-entry", [member("h", tarfile.LNKTYPE, linkname="/etc/hostname"), member("h", data=b"x")],
     'archive entry "h" links to "/etc/hostname", which does not exist'),
    ("truncated", None, "archive tar is truncated"),
])
def test_add_of_a_bad_archive_fails_the_build(busybox_store: Store, tmp_path: Path, name: str,
                                              members: list | None, message: str) -> None:
    data = tar_bytes(members) if members else tar_bytes([member("f", data=b"x" * 5000)])[:2000]
    ctx = write_context(tmp_path / "ctx", {"a.tar": data, "Dockerfile": "FROM busybox\nADD a.tar /dest/\n"})
    with pytest.raises(BuildError, match=message):
        do_build(busybox_store, ctx)


@pytest.fixture
def http_root(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_add_url_with_checksum(busybox_store: Store, tmp_path: Path, http_root) -> None:
    root, base = http_root
    (root / "tool.sh").write_text("echo tool\n")
    good = sha256_digest(b"echo tool\n")
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM busybox\nADD --checksum={good} {base}/tool.sh /opt/\n"
                                                         f"ADD {base}/tool.sh /renamed\n"})
    result, _ = do_build(busybox_store, ctx)
    member = layer_members(busybox_store, result.image_id, 1)["opt/tool.sh"]
    assert member.mode == 0o600
    assert layer_file(busybox_store, result.image_id, "renamed", 2) == b"echo tool\n"
    (ctx / "Dockerfile").write_text(f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {base}/tool.sh /opt/\n")
    with pytest.raises(BuildError, match="digest mismatch"):
        do_build(busybox_store, ctx)


def test_same_context_in_two_dirs_gives_the_same_image(busybox_store: Store, tmp_path: Path) -> None:
    files = {**FILES, "Dockerfile": "FROM busybox\nWORKDIR /app\nCOPY . .\nADD dir /d\nENV X=1\nCMD [\"sh\"]\n"}
    one = write_context(tmp_path / "one", files)
    two = tmp_path / "elsewhere" / "two"
    shutil.copytree(one, two)
    for i, path in enumerate(sorted(two.rglob("*"))):
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    first, _ = do_build(busybox_store, one)
    second, _ = do_build(busybox_store, two, no_cache=True)
    assert first.image_id == second.image_id
    third, _ = do_build(busybox_store, two, source_date_epoch=1_500_000_000)
    cfg = config(busybox_store, third.image_id)
    assert cfg["created"] == "2017-07-14T02:40:00Z"
    assert {h["created"] for h in cfg["history"][1:]} == {"2017-07-14T02:40:00Z"}


def test_source_date_epoch_makes_deterministic_runs_reproducible(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"app.py": "print(1)\n", "Dockerfile": """\
FROM busybox
RUN mkdir -p /opt/app && echo built > /opt/app/stamp
COPY app.py /opt/app/
"""})
    first, _ = do_build(busybox_store, ctx, source_date_epoch=1_700_000_000)
    second, _ = do_build(busybox_store, ctx, source_date_epoch=1_700_000_000, no_cache=True)
    assert first.image_id == second.image_id
    stamp = layer_members(busybox_store, first.image_id, 1)["opt/app/stamp"]
    assert stamp.mtime == 1_700_000_000
