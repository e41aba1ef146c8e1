"""Fixtures for the container runtime tests: a busybox store checked for leftovers, extra images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from testlib import BUSYBOX_CONFIG, freight_cgroups, freight_mounts, processes_mentioning

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
