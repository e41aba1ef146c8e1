"""write_layer: deterministic, Docker-shaped tars of real directory trees."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from imagelib import oci_layout, sha256_digest, write_files
from layer_helpers import CAP_NET_BIND, LONG_DIR, LONG_FILE, make_tree, needs_root, overlay_mount

from freight.image.mediatypes import OCI_LAYER_GZIP
from freight.store.compression import gzip_compress
from freight.store.layerwrite import write_layer

pytestmark = needs_root


def layer_bytes(src: Path, **options: object) -> bytes:
    out = io.BytesIO()
    write_layer(src, out, **options)  # type: ignore[arg-type]
    return out.getvalue()


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        return tf.getmembers()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    make_tree(tmp_path / "tree")
    return tmp_path / "tree"


def test_same_tree_gives_same_bytes(tree: Path) -> None:
    first = layer_bytes(tree)
    assert hashlib.sha256(first).digest() == hashlib.sha256(layer_bytes(tree)).digest()


def test_clamped_mtimes_make_touched_tree_identical(tree: Path) -> None:
    epoch = 1_500_000_000
    before = layer_bytes(tree, source_date_epoch=epoch)
    for path in [tree, *tree.rglob("*")]:
        os.utime(path, (1_800_000_000, 1_750_000_000), follow_symlinks=False)
    assert layer_bytes(tree, source_date_epoch=epoch) == before
    assert layer_bytes(tree) != before
    assert {m.mtime for m in members(before)} == {epoch}


def test_clamping_lowers_only_newer_mtimes(tree: Path) -> None:
    os.utime(tree / "empty", (1_000, 1_000))
    by_name = {m.name: m for m in members(layer_bytes(tree, source_date_epoch=1_650_000_000))}
    assert by_name["empty"].mtime == 1_000
    assert by_name["etc/hostname"].mtime == 1_650_000_000


def test_entries_are_sorted_depth_first_with_clean_names(tree: Path) -> None:
    raw = [m.name + ("/" if m.isdir() else "") for m in members(layer_bytes(tree))]
    with tarfile.open(fileobj=io.BytesIO(layer_bytes(tree))) as tf:
        raw_names = [m.path for m in tf]
    assert raw_names[0] == "bin" and "." not in raw_names
    assert not any(n.startswith(("./", "/")) for n in raw)
    expected: list[str] = []

    def walk(directory: Path, prefix: str) -> None:
        for name in sorted(os.listdir(directory), key=os.fsencode):
            path = directory / name
            expected.append(prefix + name)
            if path.is_dir() and not path.is_symlink():
                walk(path, prefix + name + "/")

    walk(tree, "")
    assert raw_names == expected


def test_header_fields_match_docker(tree: Path) -> None:
    data = layer_bytes(tree)
    assert data.endswith(b"\0" * 1024) and len(data) % 512 == 0
    by_name = {m.name: m for m in members(data)}
    for m in by_name.values():
        assert m.uname == "" and m.gname == ""
    assert data[257:265] == b"ustar\x0000"
    assert by_name["bin"].isdir() and by_name["bin"].mode == 0o755
    assert by_name["tmp"].mode == 0o1777
    assert (by_name["srv"].mode, by_name["srv"].uid, by_name["srv"].gid) == (0o2750, 1000, 1001)
    tool = by_name["bin/tool"]
    assert tool.mode == 0o4755 and tool.isreg()
    assert tool.pax_headers["SCHILY.xattr.security.capability"].encode("utf-8", "surrogateescape") == CAP_NET_BIND
    alias = by_name["bin/tool-alias"]
    assert alias.islnk() and alias.linkname == "bin/tool" and alias.size == 0
    assert by_name["bin/link"].issym() and by_name["bin/link"].linkname == "tool"
    assert (by_name["bin/link"].uid, by_name["bin/link"].gid) == (33, 33)
    assert by_name["fifo"].isfifo() and by_name["fifo"].mode == 0o640
    null = by_name["dev/null"]
    assert null.ischr() and (null.devmajor, null.devminor) == (1, 3)
    assert by_name["dev/loop9"].isblk() and by_name["dev/loop9"].devminor == 9
    assert by_name[f"{LONG_DIR}/{LONG_FILE}"].size == 4
    assert by_name["ünïcode"].size == 9
    assert by_name["etc/big"].size == (tree / "etc/big").stat().st_size


def test_pax_headers_only_where_needed(tree: Path) -> None:
    data = layer_bytes(tree)
    types = [data[i + 156 : i + 157] for i in range(0, len(data), 512) if data[i + 257 : i + 262] == b"ustar"]
    # tool (xattrs), the long file name and the non-ASCII name need PAX; tool-alias
    # shares tool's inode but is a link entry whose own header carries the xattrs too.
    pax_targets = {m.name for m in members(data) if m.pax_headers}
    assert types.count(b"x") == len(pax_targets)
    assert pax_targets == {"bin/tool", "bin/tool-alias", f"{LONG_DIR}/{LONG_FILE}", "ünïcode"}


def test_long_names_use_the_ustar_prefix_when_they_can(tmp_path: Path) -> None:
    deep = tmp_path / "tree" / ("p" * 90) / ("q" * 30)
    deep.parent.mkdir(parents=True)
    deep.write_bytes(b"split")
    data = layer_bytes(tmp_path / "tree")
    assert [m.name for m in members(data)] == ["p" * 90, f"{'p' * 90}/{'q' * 30}"]
    assert b"PaxHeaders" not in data
    assert data[512 + 345 : 512 + 345 + 90] == b"p" * 90


def test_owner_override(tree: Path) -> None:
    assert {(m.uid, m.gid) for m in members(layer_bytes(tree, uid=0, gid=0))} == {(0, 0)}


def test_gnu_tar_reads_it(tree: Path, tmp_path: Path) -> None:
    if shutil.which("tar") is None:
        pytest.skip("GNU tar is not installed")
    layer = tmp_path / "layer.tar"
    layer.write_bytes(layer_bytes(tree))
    listing = subprocess.run(["tar", "-tvf", str(layer)], capture_output=True, text=True, check=True).stdout
    assert "bin/tool-alias link to bin/tool" in listing
    assert "bin/link -> tool" in listing
    assert f"{LONG_DIR}/{LONG_FILE}" in listing
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "-xpf", str(layer), "-C", str(out)], check=True)
    assert (out / "etc/big").read_bytes() == (tree / "etc/big").read_bytes()
    assert os.getxattr(out / "bin/tool", "security.capability") == CAP_NET_BIND


def test_overlay_upper_becomes_whiteouts(tmp_path: Path) -> None:
    lower, upper, work = tmp_path / "lower", tmp_path / "upper", tmp_path / "work"
    for d in (lower / "d", upper, work):
        d.mkdir(parents=True)
    (lower / "gone").write_bytes(b"x")
    (lower / "keep").write_bytes(b"k")
    (lower / "d/old").write_bytes(b"o")
    with overlay_mount([lower], tmp_path / "merged", upper, work) as merged:
        (merged / "gone").unlink()
        shutil.rmtree(merged / "d")
        (merged / "d").mkdir()
        (merged / "d/new").write_bytes(b"n")
    data = layer_bytes(upper, overlay_upper=True)
    entries = members(data)
    names = [m.name for m in entries]
    assert names == [".wh.gone", "d", "d/.wh..wh..opq", "d/new"]
    whiteout = entries[0]
    assert whiteout.isreg() and whiteout.size == 0 and whiteout.mode == 0o600
    assert entries[2].isreg() and entries[2].size == 0
    assert not any(k.startswith("SCHILY.xattr.trusted.overlay") for m in entries for k in m.pax_headers)


class KeepingWriter(io.RawIOBase):
    """An output that keeps the objects it is handed, as a queue to a compressor thread would."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[bytes | bytearray | memoryview] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.kept.append(data)
        return len(data)


def test_output_buffers_are_not_reused(tree: Path) -> None:
    keeping = KeepingWriter()
    write_layer(tree, keeping)  # type: ignore[arg-type]
    assert b"".join(bytes(chunk) for chunk in keeping.kept) == layer_bytes(tree)


def test_umoci_unpacks_it(tree: Path, tmp_path: Path) -> None:
    if shutil.which("umoci") is None:
        pytest.skip("umoci is not installed")
    tar = layer_bytes(tree)
    blob = io.BytesIO()
    gzip_compress(io.BytesIO(tar), blob)
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]}}
    layout = write_files(tmp_path / "layout", oci_layout(blob.getvalue(), json.dumps(config).encode(),
                                                         OCI_LAYER_GZIP, "latest"))
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)], check=True, capture_output=True)
    rootfs = bundle / "rootfs"
    assert (rootfs / "etc/big").read_bytes() == (tree / "etc/big").read_bytes()
    assert (rootfs / "bin/tool-alias").stat().st_ino == (rootfs / "bin/tool").stat().st_ino
    assert os.readlink(rootfs / "bin/link") == "tool"
    assert (rootfs / LONG_DIR / LONG_FILE).read_bytes() == b"long"
