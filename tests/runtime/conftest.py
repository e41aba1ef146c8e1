"""Fixtures for the container runtime tests: a busybox store checked for leftovers, extra images."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from testlib import BUSYBOX_CONFIG, HUGETLB, freight_cgroups, freight_mounts, processes_mentioning, wait_until

from freight.store import Store


@pytest.fixture
def runtime_store(busybox_store: Store) -> Iterator[Store]:
    """``busybox_store``, checked after the test: every container removed leaves nothing."""
    yield busybox_store
    ids = [r[0] for r in busybox_store.db.execute("SELECT id FROM containers")]
    from freight.runtime import containers, lifecycle

    for c in containers.list_containers(busybox_store, all=True):  # finishes --rm ones of killed clients
        lifecycle.remove(busybox_store, c.id, force=True, volumes=True)
    root = busybox_store.root
    assert freight_cgroups(ids) == []
    assert freight_mounts(root) == []
    assert not (root / "containers").exists() or list((root / "containers").iterdir()) == []
    # a monitor whose start failed reports to its client before it finishes cleaning up
    wait_until(lambda: processes_mentioning(str(root)) == [], timeout=10)
    assert processes_mentioning(str(root)) == []


@pytest.fixture
def busybox_image(runtime_store: Store, busybox_rootfs: Path) -> Callable[..., str]:
    """``busybox_image(TAG, **CONFIG)``: the busybox rootfs imported again as ``TAG``, its image
    config busybox's ``Env`` and ``CONFIG`` (no ``Cmd`` unless given)."""
    from freight.store.importer import import_rootfs

    def make(tag: str, **config: Any) -> str:
        import_rootfs(runtime_store, busybox_rootfs, [tag], {"Env": BUSYBOX_CONFIG["Env"], **config})
        return tag

    return make


MS_SLAVE = 1 << 19


@pytest.fixture(scope="session")
def oci_runtimes() -> Iterator[None]:
    """The external OCI runtimes' set-up: on a hybrid cgroup host crun (and runc) want the
    hugetlb controller on a v1 hierarchy at /sys/fs/cgroup/hugetlb. It is mounted in a
    mount namespace of this test process's own (the rest of the session runs in it, and
    its freight commands inherit it), so no other process on the machine sees the mount;
    the binding of the controller itself is machine-wide while a cgroup is left in it, so
    the ``freight`` cgroup made there is removed at the end."""
    from freight.runtime import syscalls as sc

    hybrid = os.path.isdir("/sys/fs/cgroup/unified") and os.path.isdir("/sys/fs/cgroup/memory")
    if not hybrid or os.path.ismount(HUGETLB):
        yield
        return
    sc.unshare(sc.CLONE_NEWNS)  # a single-threaded process may; pytest is one
    sc.mount(None, "/", None, sc.MS_REC | MS_SLAVE)
    os.makedirs(HUGETLB, exist_ok=True)
    sc.mount("cgroup", HUGETLB, "cgroup", 0, "hugetlb")
    yield
    try:
        os.rmdir(f"{HUGETLB}/freight")
    except OSError:
        pass
