"""Fixtures for the container runtime tests: a busybox store, extra images, leftover checks."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from freight.store import Store

CGROUP_ROOT = Path("/sys/fs/cgroup")


def freight_mounts(root: Path) -> list[str]:
    """Mount points on the host below the store root (a stopped container leaves none)."""
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(root))]


def freight_cgroups(container_ids: list[str]) -> list[Path]:
    found = []
    for ident in container_ids:
        found += [p for p in CGROUP_ROOT.glob(f"*/freight/{ident}")]
        found += [p for p in CGROUP_ROOT.glob(f"freight/{ident}")]
    return found


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line or environment mention ``text`` (the store root)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if text.encode() in cmdline or text.encode() in environ:
            pids.append(int(entry))
    return pids


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
def make_image(runtime_store: Store, busybox_rootfs: Path) -> Callable[..., str]:
    """Import the busybox rootfs again under a new tag with the given image config."""
    from freight.store.importer import import_rootfs

    def make(tag: str, **config: Any) -> str:
        full = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], **config}
        import_rootfs(runtime_store, busybox_rootfs, [tag], full)
        return tag

    return make
