"""The snapshot store hands out mounts (containerd's Prepare, View, Commit), and it alone
writes overlay options."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from testlib import REPO

from freight.image.digest import chain_ids, sha256_bytes
from freight.runtime import syscalls as sc
from freight.runtime.rootfs import mount_snapshot
from freight.store import Store
from freight.store.snapshots import SnapshotMount


@contextlib.contextmanager
def mounted(mounts: list[SnapshotMount], target: Path) -> Iterator[Path]:
    target.mkdir(exist_ok=True)
    for m in mounts:
        mount_snapshot(m, str(target))
    try:
        yield target
    finally:
        sc.umount2(str(target), 2)


def test_prepare_mounts_the_chain_with_an_upper_dir_and_commit_makes_it_a_snapshot(busybox_store: Store,
                                                                                  tmp_path: Path) -> None:
    store = busybox_store
    image = store.resolve_image("busybox")
    key = tmp_path / "active"
    here = os.getcwd()
    with mounted(store.rootfs_mounts(image, str(key)), tmp_path / "root") as root:
        assert (root / "bin" / "busybox").is_file()
        (root / "added").write_text("new layer")
    assert os.getcwd() == here
    assert (key / "upper" / "added").read_text() == "new layer"
    diff_id = sha256_bytes(b"not checked here")
    chain = chain_ids([*image.diff_ids, diff_id])
    store.snapshots.commit(chain[-1], key / "upper", chain[-2], diff_id, 9)
    assert not (key / "upper").exists() and store.snapshots.exists(chain[-1])
    assert store.snapshots.size(chain[-1]) == 9
    with mounted(store.snapshots.prepare(str(tmp_path / "second"), chain), tmp_path / "root") as root:
        assert (root / "added").read_text() == "new layer" and (root / "bin" / "busybox").is_file()
    with mounted(store.snapshots.view(chain), tmp_path / "view") as root:
        assert (root / "added").is_file() and (root / "bin" / "busybox").is_file()
        with pytest.raises(OSError):
            (root / "more").write_text("x")
    [bind] = store.snapshots.view(chain[-1:])
    assert (bind.type, bind.options) == ("bind", ("rbind", "ro"))
    with mounted([bind], tmp_path / "view") as root:
        assert [p.name for p in root.iterdir()] == ["added"]
        with pytest.raises(OSError):
            (root / "more").write_text("x")


def test_a_chain_of_no_layers_mounts_an_empty_lower_dir(store: Store, tmp_path: Path) -> None:
    [m] = store.snapshots.prepare(str(tmp_path / "active"), [])
    with mounted([m], tmp_path / "root") as root:
        assert list(root.iterdir()) == []
        (root / "file").write_text("x")
    assert (tmp_path / "active" / "upper" / "file").is_file()
    assert store.snapshots.names_on_disk() == set()  # the empty lower dir is no snapshot: GC leaves it


def test_only_the_snapshot_store_writes_overlay_options() -> None:
    writers = sorted(str(p.relative_to(REPO)) for p in (REPO / "freight").rglob("*.py")
                     if re.search(r"lowerdir=|upperdir=", p.read_text()))
    assert writers == ["freight/store/snapshots.py"]
