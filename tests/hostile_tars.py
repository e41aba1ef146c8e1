"""The hostile-tar corpus: tars that try to write outside the directory they are unpacked into.

Every place in freight that unpacks a tar runs every case: ``apply_layer`` and
``extract_archive`` directly (tests/store/test_layerapply.py), and ``import``,
``load`` (docker-archive and OCI layout), ``ADD``, a tar build context and
``cp`` into and out of a container through the CLI (tests/cli/test_hostile_tars.py).
Each case aims at a canary directory outside the destination (``make_canary``):
by absolute names, ``..`` climbs, symlinks, hard links (the two-entry overwrite
of CVE-2025-4517's kind and its PATH_MAX symlink chain), whiteouts, device
nodes and over-long names. Whatever unpacks it must leave the canary exactly as
it was, and either refuse the tar or keep every entry inside the destination.

A case says which of the two it expects for each way a tar is unpacked:

* ``layer``: a layer applied to a snapshot (``import``, ``load``, ``pull``);
* ``root``: an archive unpacked with its destination as ``/``, as Docker's
  chrooted untar does (``ADD``, a tar build context, ``cp`` out to the host);
* ``subdir``: an archive unpacked into a directory below the root that
  symlinks resolve in (``cp - CONTAINER:DIR``).
"""

from __future__ import annotations

import hashlib
import stat
import tarfile
from pathlib import Path
from typing import NamedTuple

from imagelib import Member, member, tar_bytes

REFUSED, CONFINED = "refused", "confined"
MODES = ("layer", "root", "subdir")
DIR, SYM, LNK, CHR, BLK, FIFO = (tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
                                 tarfile.BLKTYPE, tarfile.FIFOTYPE)
PRECIOUS = b"precious"


class Case(NamedTuple):
    members: list[Member]
    expect: dict[str, str]  # mode (see MODES) -> REFUSED or CONFINED

    def tar(self) -> bytes:
        return tar_bytes(self.members)

    def names(self) -> set[str]:
        """The member names as the tar holds them (tarfile ends a directory's with "/")."""
        return {info.name + "/" if info.isdir() and not info.name.endswith("/") else info.name
                for info, _ in self.members}


def make_canary(canary: Path) -> Path:
    """The directory every case aims at: ``victim`` (what hard links target) and ``sub/kept``."""
    (canary / "sub").mkdir(parents=True)
    (canary / "victim").write_bytes(PRECIOUS)
    (canary / "sub/kept").write_bytes(b"kept")
    return canary


def canary_state(canary: Path) -> dict[str, tuple[object, ...]]:
    """Everything about the canary tree that an escape could change (a new hard link changes nlink)."""
    found: dict[str, tuple[object, ...]] = {}
    for path in sorted([canary, *canary.rglob("*")]):
        st = path.lstat()
        body = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else None
        found[str(path.relative_to(canary))] = (st.st_mode, st.st_uid, st.st_gid, st.st_ino, st.st_nlink,
                                                st.st_size, st.st_mtime_ns, body)
    return found


def _pathmax_chain(up: str) -> list[Member]:
    """CVE-2025-4517's shape: nested 247-character directories, each reachable through a one-letter
    symlink, so that a link through all the letters resolves past PATH_MAX (where ``os.path.realpath``
    stopped resolving); then a symlink climbing out through it, a hard link through that to the
    victim, and a regular file written onto the hard link."""
    comp = "d" * 247
    steps = "abcdefghijklmnop"
    members, path = [], ""
    for step in steps:
        members += [member(path + comp, DIR), member(path + step, SYM, linkname=comp)]
        path += comp + "/"
    link = "/".join(steps) + "/" + "l" * 254
    members.append(member(link, SYM, linkname="../" * len(steps)))
    members.append(member("escape", SYM, linkname=link + "/" + up))
    members += [member("flag", LNK, linkname="escape/victim"), member("flag", data=b"pwned")]
    return members


def hostile_corpus(canary: Path) -> dict[str, Case]:
    """The cases, aimed at ``canary`` (made by ``make_canary``)."""
    absolute = str(canary)
    up = "../" * 64 + absolute.lstrip("/")  # from any destination, a climb that ends in the canary

    def case(members: list[Member], layer: str, root: str, subdir: str) -> Case:
        return Case(members, {"layer": layer, "root": root, "subdir": subdir})

    return {
        "absolute-name": case([member(f"{absolute}/victim", data=b"pwned")], REFUSED, CONFINED, CONFINED),
        "absolute-new-dir": case([member(f"{absolute}/new/", DIR), member(f"{absolute}/new/f")],
                                 REFUSED, CONFINED, CONFINED),
        "dotdot": case([member(f"{up}/victim", data=b"pwned")], REFUSED, CONFINED, REFUSED),
        "dotdot-inside": case([member(f"a/b/../../{up}/victim", data=b"pwned")], REFUSED, CONFINED, REFUSED),
        "dotdot-dir": case([member(f"{up}/new/", DIR, mode=0o777)], REFUSED, CONFINED, REFUSED),
        "symlink-absolute-then-file": case(
            [member("evil", SYM, linkname=absolute), member("evil/victim", data=b"pwned")],
            REFUSED, CONFINED, CONFINED),
        "symlink-root-then-file": case(
            [member("evil", SYM, linkname="/"), member(f"evil{absolute}/new", data=b"pwned")],
            REFUSED, CONFINED, CONFINED),
        "symlink-dotdot-then-file": case(
            [member("evil", SYM, linkname=up), member("evil/victim", data=b"pwned")], REFUSED, CONFINED, REFUSED),
        "symlink-chain-then-file": case(
            [member("a", SYM, linkname="b"), member("b", SYM, linkname=up), member("a/victim", data=b"pwned")],
            REFUSED, CONFINED, REFUSED),
        "symlink-then-dir": case(
            [member("evil", SYM, linkname=absolute), member("evil/sub/", DIR, mode=0o777)],
            REFUSED, CONFINED, CONFINED),
        "file-over-symlink": case(
            [member("evil", SYM, linkname=f"{absolute}/victim"), member("evil", data=b"pwned")],
            CONFINED, CONFINED, CONFINED),
        "dir-over-symlink": case(
            [member("evil", SYM, linkname=absolute), member("evil", DIR, mode=0o777)], CONFINED, CONFINED, CONFINED),
        "hardlink-absolute": case([member("stolen", LNK, linkname=f"{absolute}/victim")], REFUSED, REFUSED, REFUSED),
        "hardlink-dotdot": case([member("stolen", LNK, linkname=f"{up}/victim")], REFUSED, REFUSED, REFUSED),
        "hardlink-two-entry-overwrite": case(
            [member("h", LNK, linkname=f"{absolute}/victim"), member("h", data=b"pwned")], REFUSED, REFUSED, REFUSED),
        "hardlink-via-symlink": case(
            [member("evil", SYM, linkname=absolute), member("stolen", LNK, linkname="evil/victim")],
            REFUSED, REFUSED, REFUSED),
        "hardlink-via-symlink-overwrite": case(
            [member("evil", SYM, linkname=up), member("h", LNK, linkname="evil/victim"), member("h", data=b"pwned")],
            REFUSED, REFUSED, REFUSED),
        "cve-2025-4517-pathmax-chain": case(_pathmax_chain(up), REFUSED, REFUSED, REFUSED),
        "whiteout-dotdot": case([member(f"{up}/.wh.victim")], REFUSED, CONFINED, REFUSED),
        "whiteout-parent": case([member("../.wh.victim")], REFUSED, CONFINED, REFUSED),
        "whiteout-via-symlink": case([member("evil", SYM, linkname=up), member("evil/.wh.victim")],
                                     REFUSED, CONFINED, REFUSED),
        "whiteout-of-dotdot": case([member("sub/", DIR), member("sub/.wh..")], REFUSED, CONFINED, CONFINED),
        "opaque-via-symlink": case([member("evil", SYM, linkname=absolute), member("evil/.wh..wh..opq")],
                                   REFUSED, CONFINED, CONFINED),
        "device-nodes": case(
            [member("null", CHR, devmajor=1, devminor=3, mode=0o666), member("disk", BLK, devmajor=7, devminor=0),
             member("pipe", FIFO)], CONFINED, CONFINED, CONFINED),
        "device-at-absolute-name": case([member(f"{absolute}/victim", CHR, devmajor=1, devminor=3)],
                                        REFUSED, CONFINED, CONFINED),
        "long-component": case([member("x" * 300, data=b"long")], REFUSED, REFUSED, REFUSED),
        "long-path": case([member("/".join(["y" * 200] * 12) + "/f", data=b"deep")], CONFINED, CONFINED, CONFINED),
        "path-over-path-max": case([member("/".join(["z" * 250] * 20) + "/f", data=b"deep")],
                                   REFUSED, REFUSED, REFUSED),
        "symlink-loop": case([member("a", SYM, linkname="b"), member("b", SYM, linkname="a"), member("a/x")],
                             REFUSED, REFUSED, REFUSED),
    }
