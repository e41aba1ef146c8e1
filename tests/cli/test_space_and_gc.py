"""``system df``, GC, ``rmi`` and prune on one store holding images, containers (running and
stopped), volumes and build cache: what each reports, in bytes the test knows independently."""

from __future__ import annotations

from pathlib import Path

import pytest

from freight.runtime import lifecycle
from freight.store import Store
from freight.system import Usage, disk_usage


def _build(cli, tmp_path: Path, tag: str, run: str) -> str:
    """Build ``FROM busybox`` + one RUN step; the digest of its RUN layer's blob."""
    ctx = tmp_path / tag.replace(":", "-")
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM busybox\nRUN {run}\n")
    cli("build", "-q", "-t", tag, str(ctx), check=True)
    return str(cli("image", "inspect", "-f", "{{json .RootFS.Layers}}", tag, check=True).stdout)


class Scene:
    """The store's content and the sizes each part should have."""

    def __init__(self, store: Store, cli, tmp_path: Path) -> None:
        self.store = store
        _build(cli, tmp_path, "used:1", "head -c 30000 /dev/zero > /u")
        _build(cli, tmp_path, "spare:1", "head -c 10000 /dev/zero > /s")
        _build(cli, tmp_path, "gone:1", "head -c 20000 /dev/urandom > /g")
        gone = store.resolve_image("gone:1")
        self.gone_blob = gone.layers[-1]["digest"]
        self.gone_chain = gone.chain_ids[-1]
        cli("rmi", "gone:1", check=True)
        self.chain = {tag: store.resolve_image(tag).chain_ids[-1] for tag in ("busybox", "used:1", "spare:1")}
        self.running = cli("run", "-d", "-v", "named:/data", "busybox", "sleep", "120", check=True).stdout.strip()
        cli("run", "--name", "old", "-v", "/anon", "used:1", "sh", "-c",
            "head -c 5000 /dev/zero > /written; head -c 2000 /dev/zero > /anon/v", check=True)
        cli("volume", "create", "spare", check=True)

    def snap(self, tag: str) -> int:
        return self.store.snapshots.size(self.chain[tag])


@pytest.fixture
def scene(busybox_store: Store, cli, tmp_path: Path):
    s = Scene(busybox_store, cli, tmp_path)
    yield s
    lifecycle.remove(busybox_store, s.running, force=True, volumes=True)


def _usage(store: Store) -> dict[str, Usage]:
    return {u.kind: u for u in disk_usage(store)}


def test_system_df_reports_each_kind(scene: Scene, cli) -> None:
    store = scene.store
    images = scene.snap("busybox") + scene.snap("used:1") + scene.snap("spare:1")
    cache = store.blobs.disk_size(scene.gone_blob)
    assert disk_usage(store) == [
        Usage("Images", 3, 2, images, scene.snap("spare:1")),
        Usage("Containers", 2, 1, 5000, 5000),
        Usage("Local Volumes", 3, 2, 2000, 0),
        Usage("Build Cache", 3, 0, cache, cache),
        Usage("Temporary", 0, 0, 0, 0),
    ]
    out = cli("system", "df", check=True).stdout
    assert out.splitlines()[2].split() == ["Containers", "2", "1", "5kB", "5kB", "(100%)"]
    assert cli("system", "df", "-v", check=True).stdout == out


def test_rmi_refuses_an_image_a_stopped_container_uses_and_gc_keeps_everything(scene: Scene, cli) -> None:
    store = scene.store
    result = cli("rmi", "used:1")
    assert result.returncode == 1
    assert "container" in result.stderr and "is using its referenced image" in result.stderr
    report = store.gc()
    assert report is not None
    assert (report.deleted_blobs, report.deleted_snapshots, report.reclaimed) == ([], [], 0)
    assert store.blobs.has(scene.gone_blob) and store.snapshots.exists(scene.gone_chain)


def test_system_prune_then_prune_all(scene: Scene, cli) -> None:
    store = scene.store
    gone_snap = store.snapshots.size(scene.gone_chain)
    gone_disk = store.blobs.disk_size(scene.gone_blob)
    out = cli("system", "prune", "-f", check=True).stdout
    assert "Deleted Containers:\n" in out and "Deleted Volumes" not in out
    assert out.count("\nsha256:") == 1  # the one cache entry whose layer no image uses
    assert f"deleted: {scene.gone_chain}" in out
    assert not store.blobs.has(scene.gone_blob) and not store.snapshots.exists(scene.gone_chain)
    reclaimed = 5000 + gone_disk + gone_snap
    assert _usage(store)["Build Cache"] == Usage("Build Cache", 2, 0, 0, 0)
    from freight.cli.format import human_size
    assert out.endswith(f"Total reclaimed space: {human_size(reclaimed)}\n")
    assert cli("rmi", "used:1", check=True).returncode == 0  # nothing uses it now
    out = cli("system", "prune", "-a", "-f", "--volumes", check=True).stdout
    assert "untagged: spare:1" in out and f"deleted: {scene.chain['spare:1']}" in out
    assert "busybox" not in out
    usage = _usage(store)
    assert usage["Images"] == Usage("Images", 1, 1, scene.snap("busybox"), 0)
    assert usage["Build Cache"] == Usage("Build Cache", 0, 0, 0, 0)
    assert usage["Local Volumes"] == Usage("Local Volumes", 2, 1, 0, 0)  # "spare" is named: kept
    assert usage["Containers"] == Usage("Containers", 1, 1, 0, 0)
