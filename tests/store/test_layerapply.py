"""apply_layer: every entry type, whiteouts in both modes, and hostile layers."""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import tarfile
from pathlib import Path

import pytest
from hostile_tars import REFUSED, canary_state, hostile_corpus, make_canary
from imagelib import member, tar_bytes
from layer_helpers import describe, make_tree, needs_root, overlay_mount

from freight.errors import LayerError
from freight.store.layerapply import apply_layer, extract_archive, is_tar
from freight.store.layerwrite import write_layer

pytestmark = needs_root
DIR, SYM, LNK = tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def apply_members(target: Path, members: list[tuple], overlay: bool = False) -> int:
    target.mkdir(exist_ok=True)
    return apply_layer(io.BytesIO(tar_bytes(members)), target, overlay=overlay)


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    layer = io.BytesIO()
    write_layer(tmp_path / "src", layer)
    layer.seek(0)
    (tmp_path / "dst").mkdir()
    size = apply_layer(layer, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(tmp_path / "src")
    regular = [p for p in (tmp_path / "src").rglob("*") if p.is_file() and not p.is_symlink()]
    assert size == sum(p.stat().st_size for p in regular) - (tmp_path / "src/bin/tool").stat().st_size


def test_pax_and_gnu_long_names_and_modes(tmp_path: Path) -> None:
    long = "a" * 150 + "/" + "b" * 150
    gnu = tar_bytes([member(long, data=b"gnu", mode=0o6755, uid=5, gid=6)], format=tarfile.GNU_FORMAT)
    target = tmp_path / "t"
    target.mkdir()
    apply_layer(io.BytesIO(gnu), target)
    st = (target / long).stat()
    assert (target / long).read_bytes() == b"gnu"
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)) == (0o6755, 5, 6, 1_700_000_000)


def test_directory_mtime_is_set_after_its_children(tmp_path: Path) -> None:
    apply_members(tmp_path / "t", [member("d/", DIR, mtime=1234), member("d/f", data=b"x")])
    assert int((tmp_path / "t/d").stat().st_mtime) == 1234


def test_replacing_entries(tmp_path: Path) -> None:
    target = tmp_path / "t"
    apply_members(target, [
        member("d/", DIR, mode=0o755), member("d/keep", data=b"k"), member("f", data=b"old"),
        member("s", SYM, linkname="f"), member("gone/", DIR), member("gone/x", data=b"x"),
    ])
    apply_members(target, [
        member("d/", DIR, mode=0o700, uid=7), member("f", data=b"new"), member("s", data=b"now a file"),
        member("gone", SYM, linkname="d"),
    ])
    assert (target / "d/keep").read_bytes() == b"k"
    assert stat.S_IMODE((target / "d").stat().st_mode) == 0o700 and (target / "d").stat().st_uid == 7
    assert (target / "f").read_bytes() == b"new"
    assert not (target / "s").is_symlink() and (target / "s").read_bytes() == b"now a file"
    assert os.readlink(target / "gone") == "d"


def test_relative_symlink_inside_the_target_is_followed(tmp_path: Path) -> None:
    target = tmp_path / "t"
    apply_members(target, [member("usr/lib/", DIR), member("lib", SYM, linkname="usr/lib"),
                           member("a/../top", data=b"t")])
    apply_members(target, [member("lib/libx.so", data=b"elf"), member("lib/libx.so.1", LNK, linkname="lib/libx.so")])
    assert (target / "usr/lib/libx.so").read_bytes() == b"elf"
    assert (target / "usr/lib/libx.so.1").stat().st_nlink == 2
    assert (target / "top").read_bytes() == b"t"


def lower_layer(target: Path, overlay: bool) -> None:
    apply_members(target, [
        member("gone", data=b"g"), member("keep", data=b"k"), member("dir/", DIR), member("dir/x", data=b"x"),
        member("opq/", DIR), member("opq/old", data=b"o"), member("opq/sub/", DIR), member("opq/sub/old", data=b"o"),
    ], overlay=overlay)


UPPER = [
    member(".wh.gone"), member(".wh.dir"), member("opq/", DIR), member("opq/-early", data=b"e"),
    member("opq/.wh..wh..opq"), member("opq/new", data=b"n"), member("opq/sub/", DIR),
    member("opq/sub/fresh", data=b"f"), member(".wh.never-existed"),
]


def check_merged(root: Path) -> None:
    assert sorted(os.listdir(root)) == ["keep", "opq"]
    assert sorted(os.listdir(root / "opq")) == ["-early", "new", "sub"]
    assert os.listdir(root / "opq/sub") == ["fresh"]


def test_whiteouts_and_opaque_dirs_flatten(tmp_path: Path) -> None:
    target = tmp_path / "t"
    lower_layer(target, overlay=False)
    apply_members(target, UPPER)
    check_merged(target)


def test_whiteouts_and_opaque_dirs_as_overlay_lowers(tmp_path: Path) -> None:
    lower, upper = tmp_path / "l1", tmp_path / "l2"
    lower_layer(lower, overlay=True)
    apply_members(upper, UPPER, overlay=True)
    st = (upper / "gone").lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(upper / "opq", "trusted.overlay.opaque") == b"y"
    assert not (upper / ".wh.gone").exists() and not (upper / "opq/.wh..wh..opq").exists()
    with overlay_mount([upper, lower], tmp_path / "merged") as merged:
        check_merged(merged)


def test_overlay_upper_layer_replays_the_merged_view(tmp_path: Path) -> None:
    """Changes made through an overlay mount, archived from its upper dir and applied, give the merged tree."""
    lower, upper, work, target = (tmp_path / n for n in ("lower", "upper", "work", "target"))
    make_tree(lower)
    upper.mkdir()
    work.mkdir()
    base = io.BytesIO()
    write_layer(lower, base)
    with overlay_mount([lower], tmp_path / "merged", upper, work) as merged:
        (merged / "etc/hostname").write_bytes(b"changed\n")
        (merged / "empty").unlink()
        shutil.rmtree(merged / "dev")
        (merged / "dev").mkdir()
        (merged / "dev/fresh").write_bytes(b"only me")
        os.rename(merged / "srv/owned", merged / "renamed")
        os.chmod(merged / "srv", 0o700)
        os.symlink("etc/hostname", merged / "hostname-link")
        expected = describe(merged)
    diff = io.BytesIO()
    write_layer(upper, diff, overlay_upper=True)
    target.mkdir()
    for layer in (base, diff):
        layer.seek(0)
        apply_layer(layer, target)
    assert describe(target) == expected


def test_aufs_metadata_is_skipped(tmp_path: Path) -> None:
    target = tmp_path / "t"
    apply_members(target, [
        member(".wh..wh.plnk/", DIR), member(".wh..wh.plnk/1234.5678", data=b"x"), member(".wh..wh.aufs"),
        member("f", data=b"f"),
    ])
    assert os.listdir(target) == ["f"]


def test_layer_xattrs_cannot_forge_overlay_state(tmp_path: Path) -> None:
    info, data = member("d/", DIR)
    info.pax_headers = {"SCHILY.xattr.trusted.overlay.opaque": "y", "SCHILY.xattr.user.ok": "1"}
    apply_members(tmp_path / "t", [(info, data)], overlay=True)
    assert os.listxattr(tmp_path / "t/d") == ["user.ok"]


# -- hostile layers --------------------------------------------------------------


@pytest.fixture
def jail(tmp_path: Path) -> Path:
    """outer/ holds a sentinel file and the target; nothing but the target may change."""
    outer = tmp_path / "outer"
    (outer / "target").mkdir(parents=True)
    (outer / "sentinel").write_bytes(b"precious")
    return outer


CORPUS = sorted(hostile_corpus(Path("/canary")))


@pytest.mark.parametrize("mode", ["flatten", "overlay", "root", "subdir"])
@pytest.mark.parametrize("name", CORPUS)
def test_hostile_corpus_is_refused_or_confined(tmp_path: Path, name: str, mode: str) -> None:
    """Layers (both modes), archives unpacked at their root (ADD) and below it (cp into a directory)."""
    canary = make_canary(tmp_path / "canary")
    case = hostile_corpus(canary)[name]
    target = tmp_path / "target"
    (target / "dest").mkdir(parents=True)
    before = canary_state(canary)
    stream = io.BytesIO(case.tar())
    if mode in ("flatten", "overlay"):
        unpack = lambda: apply_layer(stream, target, overlay=mode == "overlay")  # noqa: E731
    else:
        unpack = lambda: extract_archive(stream, target, into="/" if mode == "root" else "/dest")  # noqa: E731
    if case.expect["layer" if mode in ("flatten", "overlay") else mode] == REFUSED:
        with pytest.raises(LayerError) as refused:
            unpack()
        named = re.match(r'(layer|archive) entry "([^"]*)"', str(refused.value))
        assert named and named.group(2) in case.names(), refused.value
    else:
        unpack()
    assert canary_state(canary) == before
    assert sorted(os.listdir(tmp_path)) == ["canary", "target"]


def test_symlink_from_an_earlier_layer_is_not_followed_out(jail: Path) -> None:
    target = jail / "target"
    apply_members(target, [member("etc", SYM, linkname=str(jail))])
    with pytest.raises(LayerError, match='layer entry "etc/sentinel" escapes the target'):
        apply_members(target, [member("etc/sentinel", data=b"pwned")])
    assert (jail / "sentinel").read_bytes() == b"precious"


def test_symlink_loops_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match='layer entry "a/x": too many levels of symbolic links'):
        apply_members(tmp_path / "t", [member("a", SYM, linkname="b"), member("b", SYM, linkname="a"), member("a/x")])


def test_archive_symlinks_resolve_inside_the_target(jail: Path) -> None:
    target = jail / "target"
    members = [
        member("run/", DIR), member("var/", DIR), member("var/run", SYM, linkname="/run"),
        member("up", SYM, linkname="../../.."), member("var/run/pid", data=b"1"), member("up/top", data=b"t"),
        member("link-to-pid", LNK, linkname="var/run/pid"), member("up/sentinel", data=b"inside"),
    ]
    extract_archive(io.BytesIO(tar_bytes(members)), target)
    assert (target / "run/pid").read_bytes() == b"1"
    assert (target / "link-to-pid").stat().st_ino == (target / "run/pid").stat().st_ino
    assert (target / "top").read_bytes() == b"t"
    assert (target / "sentinel").read_bytes() == b"inside"
    assert (jail / "sentinel").read_bytes() == b"precious"


def test_archive_into_a_directory_follows_dockers_untar(tmp_path: Path) -> None:
    """cp into a container's directory: names below it (absolute ones too), its "." left as it is,
    existing directories given the archive's metadata, whiteout names kept as files, hard links
    named from it, one owner for all, and ``..`` or a relative symlink above it refused."""
    dest = tmp_path / "dest"
    (dest / "sub").mkdir(parents=True, mode=0o700)
    (dest / "keep").write_bytes(b"kept")
    members = [
        member("./", DIR, mode=0o700, uid=5), member("/abs", data=b"abs"), member("../dest/in", data=b"in"),
        member(".wh.keep"), member("sub/", DIR, mode=0o751), member("s", SYM, linkname="/"),
        member("s/top", data=b"top"), member("here", SYM, linkname="."), member("h", LNK, linkname="/abs"),
        member("implied/f", data=b"f"),
    ]
    extract_archive(io.BytesIO(tar_bytes(members)), tmp_path, into="/dest", owner=(7, 8), implied_mtime=1_000)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755 and dest.stat().st_uid == 0
    assert (dest / "abs").read_bytes() == b"abs" and (dest / "in").read_bytes() == b"in"
    assert (dest / ".wh.keep").read_bytes() == b"" and (dest / "keep").read_bytes() == b"kept"
    assert stat.S_IMODE((dest / "sub").stat().st_mode) == 0o751
    assert (tmp_path / "top").read_bytes() == b"top"
    assert (dest / "h").stat().st_ino == (dest / "abs").stat().st_ino
    assert {(p.lstat().st_uid, p.lstat().st_gid) for p in dest.iterdir() if p.name != "keep"} == {(7, 8)}
    assert (dest / "implied").stat().st_mtime == 1_000
    for bad, message in ((member("../up", data=b"x"), '"../up" escapes the destination directory'),
                         (member("r", SYM, linkname=".."), '"r" is a symlink to "..", outside the destination')):
        with pytest.raises(LayerError, match=f"^archive entry {message}"):
            extract_archive(io.BytesIO(tar_bytes([bad])), tmp_path, into="/dest")
    assert sorted(os.listdir(tmp_path)) == ["dest", "top"]


def test_is_tar_reads_only_a_header() -> None:
    tar = tar_bytes([member("f", data=b"x" * 100_000)])
    assert is_tar(io.BytesIO(tar))
    assert not is_tar(io.BytesIO(b"not a tar" * 100)) and not is_tar(io.BytesIO(b""))
    assert not is_tar(io.BytesIO(bytes(1024)))  # only end-of-archive blocks
    assert not is_tar(io.BytesIO(tar[:300]))


def test_truncated_and_corrupt_tars_are_layer_errors(tmp_path: Path) -> None:
    data = tar_bytes([member("f", data=b"x" * 4096)])
    (tmp_path / "t").mkdir()
    with pytest.raises(LayerError, match="truncated"):
        apply_layer(io.BytesIO(data[:1500]), tmp_path / "t")
    corrupt = bytearray(data)
    corrupt[0] ^= 0x20
    with pytest.raises(LayerError, match="checksum"):
        apply_layer(io.BytesIO(bytes(corrupt)), tmp_path / "t")
