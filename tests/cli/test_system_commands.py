"""``system df`` and ``system prune`` over containers, volumes, images and build cache."""

from __future__ import annotations

from pathlib import Path

from testlib import du_bytes

from freight.runtime import containers, lifecycle
from freight.store import Store


def _df(cli) -> dict[str, list[str]]:
    lines = cli("system", "df", check=True).stdout.splitlines()
    assert lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    rows = {}
    for line in lines[1:]:
        kind = "Local Volumes" if line.startswith("Local Volumes") else line.split()[0] + (
            " Cache" if line.startswith("Build Cache") else "")
        rows[kind] = line[len(kind):].split(None, 3)
    return rows


def _build_cached_layer(cli, tmp_path: Path) -> None:
    """A built image whose RUN layer then only the build cache keeps."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN head -c 20000 /dev/urandom > /blob\n")
    cli("build", "-q", "-t", "cached:1", str(ctx), check=True)
    cli("rmi", "cached:1", check=True)


def test_system_df_counts_containers_volumes_and_build_cache(busybox_store: Store, cli, tmp_path: Path) -> None:
    _build_cached_layer(cli, tmp_path)
    running = cli("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    try:
        cli("run", "-v", "/vol", "busybox", "sh", "-c",
            "head -c 5000 /dev/zero > /written; head -c 2000 /dev/zero > /vol/v", check=True)
        rows = _df(cli)
        assert rows["Images"][:2] == ["1", "1"]
        assert rows["Containers"][:2] == ["2", "1"]  # sizes in bytes on disk: tests/cli/test_space_and_gc.py
        assert rows["Local Volumes"][:2] == ["1", "1"] and rows["Local Volumes"][3] == "0B (0%)"
        assert rows["Build Cache"][0] == "1" and rows["Build Cache"][2] == rows["Build Cache"][3]
        assert rows["Build Cache"][2].endswith("kB") and float(rows["Build Cache"][2][:-2]) >= 20
    finally:
        lifecycle.remove(busybox_store, running, force=True, volumes=True)


def test_system_prune_removes_stopped_containers_volumes_and_cache(busybox_store: Store, cli,
                                                                   tmp_path: Path) -> None:
    _build_cached_layer(cli, tmp_path)
    running = cli("run", "-d", "-v", "/keep", "busybox", "sleep", "60", check=True).stdout.strip()
    try:
        cli("run", "--name", "old", "-v", "/vol", "busybox", "sh", "-c",
            "head -c 5000 /dev/zero > /written; head -c 2000 /dev/zero > /vol/v", check=True)
        old = containers.get(busybox_store, "old")
        volume = old.record["Mounts"][0]["Name"]
        cli("volume", "create", "named", check=True)
        result = cli("system", "prune", "-f", "--volumes", check=True)
        out = result.stdout
        assert f"Deleted Containers:\n{old.id}\n\n" in out
        assert f"Deleted Volumes:\n{volume}\n\n" in out
        assert "Deleted build cache objects:\n" in out
        total = out.splitlines()[-1]
        assert total.startswith("Total reclaimed space: ") and total.endswith("kB")
        assert float(total.split(": ")[1][:-2]) >= 27  # 5 kB + 2 kB + the 20 kB layer
        assert [c.id for c in containers.list_containers(busybox_store, all=True)] == [running]
        assert "named" in cli("volume", "ls", "-q", check=True).stdout  # not anonymous: kept
        assert busybox_store.db.execute("SELECT COUNT(*) FROM build_cache").fetchone()[0] == 0
        assert _df(cli)["Build Cache"][:3] == ["0", "0", "0B"]
        cli("image", "inspect", "busybox", check=True)  # in use, and not dangling
    finally:
        lifecycle.remove(busybox_store, running, force=True, volumes=True)


def test_build_layers_are_kept_encoded_and_the_cache_counts_their_space_on_disk(busybox_store: Store, cli,
                                                                                tmp_path: Path) -> None:
    import json

    from freight.cli.format import human_size
    from freight.store.encoded import SUFFIX

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN head -c 2000000 /dev/zero > /zeros\n")
    cli("build", "-q", "-t", "zeros:1", str(ctx), check=True)
    layer = busybox_store.resolve_image("zeros:1").layers[-1]["digest"]
    chain = busybox_store.resolve_image("zeros:1").chain_ids[-1]
    assert (busybox_store.blobs.dir / (layer[7:] + SUFFIX)).is_file()
    assert busybox_store.blobs.size(layer) > 2_000_000 > 100 * busybox_store.blobs.disk_size(layer)
    assert cli("system", "check", check=True).stdout == "store is consistent\n"
    cli("rmi", "zeros:1", check=True)
    [(value,)] = busybox_store.db.execute("SELECT value FROM build_cache").fetchall()
    assert json.loads(value)["blobs"] == [layer]
    snapshot = du_bytes(busybox_store.snapshots.path(chain))
    assert _df(cli)["Build Cache"][2] == human_size(busybox_store.blobs.disk_size(layer) + snapshot)
