"""The content store: blobs, images, snapshots, GC and the consistency check."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from imagelib import tar_of

from freight.errors import Conflict, DigestMismatch, NotFound
from freight.image.digest import sha256_bytes
from freight.image.reference import parse
from freight.store import Store
from freight.store.check import check
from freight.store.importer import import_rootfs
from freight.store.refs import IMAGE


def test_blob_is_verified_and_nothing_is_kept_on_mismatch(store: Store) -> None:
    digest = store.blobs.put(b"hello")
    assert digest == sha256_bytes(b"hello") and store.blobs.read(digest) == b"hello"
    wrong = sha256_bytes(b"other")
    with pytest.raises(DigestMismatch):
        store.blobs.ingest(io.BytesIO(b"not other"), expected=wrong)
    assert not store.blobs.has(wrong)
    assert os.listdir(store.blobs.tmp_dir) == []


def test_blob_writer_abandoned_leaves_no_visible_blob(store: Store) -> None:
    with store.blobs.writer() as w:
        w.write(b"partial")
    assert list(store.blobs.digests()) == []


def test_import_is_reproducible_and_unpacked(busybox_store: Store, busybox_rootfs: Path) -> None:
    first = busybox_store.resolve_image("busybox")
    again = import_rootfs(busybox_store, busybox_rootfs, ["again:1"],
                          {"Env": first.config["config"]["Env"], "Cmd": ["sh"]})
    assert again.id == first.id
    lowers = busybox_store.layer_dirs(first)
    assert len(lowers) == 1 and (lowers[0] / "bin" / "busybox").is_file()
    assert first.size > 1_000_000
    assert first.manifest["layers"][0]["digest"] == first.diff_ids[0]


def test_lookup_by_id_prefix_name_and_digest(busybox_store: Store) -> None:
    image = busybox_store.resolve_image("busybox:latest")
    hex_id = image.id[7:]
    for text in (image.id, hex_id, hex_id[:12], hex_id[:4], "docker.io/library/busybox",
                 f"busybox@{image.manifest_digest}"):
        assert busybox_store.resolve_image(text).id == image.id
    with pytest.raises(NotFound, match="No such image: nothere"):
        busybox_store.resolve_image("nothere")


def test_rmi_untags_then_deletes_and_gc_frees_content(busybox_store: Store) -> None:
    image = busybox_store.resolve_image("busybox")
    busybox_store.images.tag(image.id, parse("mine:1"))
    assert busybox_store.images.remove("mine:1") == [("Untagged", "mine:1")]
    busybox_store.images.tag(image.id, parse("x:2"))
    with pytest.raises(Conflict, match="referenced in multiple repositories"):
        busybox_store.images.remove(image.id[7:19])
    events = busybox_store.images.remove(image.id[7:19], force=True)
    assert events == [("Untagged", "busybox:latest"), ("Untagged", "x:2"), ("Deleted", image.id)]
    report = busybox_store.gc()
    assert report and report.reclaimed > 1_000_000
    assert list(busybox_store.blobs.digests()) == []
    assert busybox_store.snapshots.names_on_disk() == set()


def test_image_used_by_a_container_is_not_deleted(busybox_store: Store) -> None:
    image = busybox_store.resolve_image("busybox")
    busybox_store.refs.replace("container", "c" * 64, [(IMAGE, image.id)])
    with pytest.raises(Conflict, match="is using its referenced image"):
        busybox_store.images.remove("busybox")
    assert busybox_store.images.remove("busybox", force=True) == [("Untagged", "busybox:latest")]
    busybox_store.gc()
    assert busybox_store.layer_dirs(busybox_store.resolve_image(image.id))[0].is_dir()


def test_check_finds_corrupt_and_missing_blobs(busybox_store: Store) -> None:
    assert check(busybox_store) == []
    image = busybox_store.resolve_image("busybox")
    busybox_store.blobs.path(image.id).write_text("{}")
    problems = check(busybox_store)
    assert any("does not match its digest" in p for p in problems)
    busybox_store.blobs.delete(image.manifest_digest)
    assert any("manifest" in p and "missing" in p for p in check(busybox_store))


def _dead_writer_dir(store: Store) -> Path:
    """The temporary directory of a writer that was killed (its PID names no process now)."""
    with open("/proc/sys/kernel/pid_max") as f:
        dead = store.root / "tmp" / f"{int(f.read()) + 1}-12345"
    dead.mkdir(parents=True)
    (dead / "blob-partial").write_bytes(b"x" * 1000)
    (dead / "unpack-partial").mkdir()
    return dead


def test_gc_removes_crash_leftovers(busybox_store: Store) -> None:
    own = Path(busybox_store.scratch_dir)
    (own / "blob-being-written").write_bytes(b"x")
    _dead_writer_dir(busybox_store)
    (busybox_store.root / "tmp" / "blob-dead").write_bytes(b"x")  # what older versions left
    (busybox_store.snapshots.dir / "unpack-dead").mkdir()
    (busybox_store.root / "build-add-dead").mkdir()
    (busybox_store.snapshots.dir / "0123456789ab").mkdir()
    busybox_store.gc()
    assert os.listdir(busybox_store.root / "tmp") == [own.name]
    assert os.listdir(own) == ["blob-being-written"]  # a live writer's
    assert sorted(os.listdir(busybox_store.snapshots.dir)) == [
        busybox_store.snapshots.name(busybox_store.resolve_image("busybox").chain_ids[0])]
    assert not (busybox_store.root / "build-add-dead").exists()


def test_next_writer_removes_only_what_killed_writers_left(store: Store) -> None:
    """A temporary directory names its writer by PID and start time: a reused PID is no owner."""
    dead = _dead_writer_dir(store)
    reused = store.root / "tmp" / f"{os.getpid()}-1"  # our PID, but not our start time
    reused.mkdir()
    own = Path(store.scratch_dir)
    (own / "blob-being-written").write_bytes(b"x")
    legacy = store.root / "tmp" / "blob-of-an-older-version"
    legacy.write_bytes(b"x")
    with store.writing():
        assert not dead.exists() and not reused.exists()
        assert (own / "blob-being-written").exists() and legacy.exists()  # that one only for GC


def test_hostile_import_stores_nothing(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(tar_of({"../escape": b"x"}))
    with pytest.raises(Exception, match="escape"):
        import_rootfs(store, bad, ["bad:1"])
    assert store.images.all() == []
    assert list(store.blobs.digests()) == []
    assert not (tmp_path / "escape").exists()


def test_manifest_and_config_are_canonical_json(busybox_store: Store) -> None:
    image = busybox_store.resolve_image("busybox")
    raw = busybox_store.blobs.read(image.manifest_digest)
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    assert image.config["rootfs"]["diff_ids"] == image.diff_ids
