"""Several freight processes at once, and processes killed mid-write, leave a consistent store."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from testlib import CLI, freight_process

from freight.store import Store, open_store
from freight.store.check import check


def _rootfs_variant(base: Path, dest: Path, marker: str, megabytes: int = 0) -> Path:
    shutil.copytree(base, dest, symlinks=True)
    (dest / "marker").write_text(marker)
    if megabytes:
        big = dest / "big"
        big.mkdir()
        for i in range(megabytes):
            (big / f"f{i}").write_bytes(os.urandom(1 << 20))
    return dest


def _spawn(store: Store, *args: str) -> subprocess.Popen:
    return freight_process(store.root, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_concurrent_imports_rmi_and_prune(store: Store, cli: CLI, busybox_rootfs: Path,
                                          tmp_path: Path) -> None:
    a = _rootfs_variant(busybox_rootfs, tmp_path / "a", "a", 8)
    b = _rootfs_variant(busybox_rootfs, tmp_path / "b", "b", 8)
    cli("import", str(busybox_rootfs), "victim:1", check=True)
    cli("import", "--change", "CMD [\"x\"]", str(busybox_rootfs), "dangling:1", check=True)
    cli("import", str(busybox_rootfs), "dangling:1", check=True)
    procs = [_spawn(store, "import", str(a), "a:1"), _spawn(store, "import", str(b), "b:1"),
             _spawn(store, "import", str(a), "a:2"), _spawn(store, "rmi", "victim:1"),
             _spawn(store, "image", "prune", "-f")]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0] * 5, results
    names = cli("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split()
    assert sorted(names) == ["a:1", "a:2", "b:1", "dangling:1"]
    assert cli("system", "check", check=True).stdout == "store is consistent\n"
    for name in ("a:1", "b:1"):
        layer_dir = store.layer_dirs(store.resolve_image(name))[0]
        assert (layer_dir / "marker").read_text() == name[0]


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.6])
def test_kill_9_during_import_leaves_store_consistent(store: Store, cli: CLI, busybox_rootfs: Path,
                                                      tmp_path: Path, delay: float) -> None:
    src = _rootfs_variant(busybox_rootfs, tmp_path / "src", "x", 48)
    proc = _spawn(store, "import", str(src), "crash:1")
    time.sleep(delay * random.uniform(0.8, 1.2))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    fresh = open_store(store.root)
    images = cli("images", "--format", "{{.Repository}}", check=True).stdout.split()
    if images:  # it finished before the kill: then it is complete
        assert images == ["crash"]
        assert (fresh.layer_dirs(fresh.resolve_image("crash:1"))[0] / "marker").exists()
    assert check(fresh) == []
    fresh.gc()
    assert check(fresh) == []
    assert cli("import", str(src), "crash:1", check=True).returncode == 0
    assert cli("system", "check", check=True).returncode == 0
