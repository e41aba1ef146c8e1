"""``system df``, GC, ``rmi`` and prune on one store holding images, containers (running and
stopped), volumes and build cache: what each reports, in bytes the test knows independently."""

from __future__ import annotations

from pathlib import Path

import pytest
from testlib import du_bytes

from freight.builder.cache import prune_cache
from freight.runtime import containers, lifecycle
from freight.store import Store
from freight.system import Usage, disk_usage, prune_system


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


def test_system_df_reports_each_kind_in_bytes_on_disk(scene: Scene, cli) -> None:
    store = scene.store
    usage = _usage(store)
    spare = store.resolve_image("spare:1")
    assert (usage["Images"].total, usage["Images"].active) == (3, 2)
    assert usage["Images"].reclaimable == (du_bytes(store.snapshots.path(scene.chain["spare:1"]))
                                           + sum(store.blobs.disk_size(d) for d in (
                                               spare.id, spare.manifest_digest, spare.layers[-1]["digest"])))
    old = store.root / "containers" / containers.get(store, "old").id
    assert usage["Containers"] == Usage("Containers", 2, 1, du_bytes(store.root / "containers"), du_bytes(old))
    assert du_bytes(old / "upper") >= 5000
    assert usage["Local Volumes"] == Usage("Local Volumes", 3, 2, du_bytes(store.root / "volumes"),
                                           du_bytes(store.root / "volumes" / "spare"))
    cache = store.blobs.disk_size(scene.gone_blob) + du_bytes(store.snapshots.path(scene.gone_chain))
    assert usage["Build Cache"] == Usage("Build Cache", 3, 0, cache, cache)
    assert usage["Temporary"] == Usage("Temporary", 0, 0, 0, 0)
    out = cli("system", "df", check=True).stdout
    assert out.splitlines()[2].split()[:3] == ["Containers", "2", "1"]
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
    out = cli("system", "prune", "-f", check=True).stdout
    assert "Deleted Containers:\n" in out and "Deleted Volumes" not in out
    assert f"deleted: {scene.gone_chain}" in out
    assert out.count("\nsha256:") == 1  # the one cache entry whose layer no image uses
    assert not store.blobs.has(scene.gone_blob) and not store.snapshots.exists(scene.gone_chain)
    assert _usage(store)["Build Cache"] == Usage("Build Cache", 2, 0, 0, 0)
    assert out.splitlines()[-1].startswith("Total reclaimed space: ")
    assert cli("rmi", "used:1", check=True).returncode == 0  # nothing uses it now
    out = cli("system", "prune", "-a", "-f", "--volumes", check=True).stdout
    assert "untagged: spare:1" in out and f"deleted: {scene.chain['spare:1']}" in out
    assert "busybox" not in out
    usage = _usage(store)
    assert usage["Images"] == Usage("Images", 1, 1, usage["Images"].size, 0)
    assert usage["Build Cache"] == Usage("Build Cache", 0, 0, 0, 0)
    assert usage["Local Volumes"] == Usage("Local Volumes", 2, 1, du_bytes(store.root / "volumes"),
                                           du_bytes(store.root / "volumes" / "spare"))  # "spare" is named: kept
    assert usage["Containers"] == Usage("Containers", 1, 1, du_bytes(store.root / "containers"), 0)


def _on_disk(root: Path) -> int:
    """``du -sb`` of the store's root less its sqlite files."""
    return du_bytes(root) - sum(p.stat().st_size for p in root.glob("metadata.db*"))


def _adds_up(store: Store) -> int:
    """Check that ``system df`` adds up to what is on disk (within 1%); the bytes on disk."""
    on_disk = _on_disk(store.root)
    reported = sum(u.size for u in disk_usage(store))
    assert abs(reported - on_disk) <= on_disk / 100, (reported, on_disk, disk_usage(store))
    return on_disk


def test_system_df_adds_up_and_prunes_report_what_they_free(scene: Scene) -> None:
    store = scene.store
    before = _adds_up(store)
    report = prune_system(store, all_unused=True)
    after = _adds_up(store)
    assert report.reclaimed > 0 and abs(report.reclaimed - (before - after)) <= before / 100
    assert prune_cache(store, all=True) == 0  # system prune -a left no cache
    assert _adds_up(store) == after


def test_system_prune_frees_layers_only_an_unused_cache_entry_holds(busybox_store: Store, cli,
                                                                   tmp_path: Path) -> None:
    store = busybox_store
    _build(cli, tmp_path, "again:1", "head -c 40000 /dev/urandom > /r")
    old = store.resolve_image("again:1")
    old_blob, old_chain = old.layers[-1]["digest"], old.chain_ids[-1]
    (tmp_path / "again-1" / "Dockerfile").write_text("FROM busybox\nRUN head -c 100 /dev/urandom > /r\n")
    cli("build", "-q", "-t", "again:1", str(tmp_path / "again-1"), check=True)
    assert store.images.get(old.id) is not None and not store.images.get(old.id).repo_tags  # dangling
    before = _adds_up(store)
    report = prune_system(store)
    assert ("Deleted", old.id) in report.images
    assert not store.blobs.has(old_blob) and not store.snapshots.exists(old_chain)
    after = _adds_up(store)
    assert report.reclaimed > 40000 and abs(report.reclaimed - (before - after)) <= before / 100
    assert prune_cache(store) == 0
