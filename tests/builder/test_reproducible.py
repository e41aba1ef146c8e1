"""Reproducible by default: the same inputs give the same image, whatever the clock, the
directory, the files' mtimes or the cache hold (freight.builder.timestamps)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from imagelib import import_busybox
from testlib import run_freight

from freight.builder.timestamps import created_seconds
from freight.store import open_store
from freight.store.store import Store
from tests.builder.buildutil import deterministic_context


def _build(root: Path, context: Path, *flags: str, env: dict[str, str] | None = None) -> str:
    result = run_freight(root, "build", "-q", *flags, str(context), env=env, check=True, timeout=300)
    return result.stdout.strip()


def _manifest_digest(root: Path, image: str) -> str:
    out = run_freight(root, "image", "inspect", "--format", "{{json .}}", image, check=True).stdout
    return str(open_store(root).resolve_image(json.loads(out)["Id"]).manifest_digest)


@pytest.fixture
def other_store(tmp_path: Path, busybox_rootfs: Path) -> Store:
    second = open_store(tmp_path / "other-root")
    import_busybox(second, busybox_rootfs)
    return second


def test_same_inputs_give_the_same_image_cold_or_warm(busybox_store: Store, other_store: Store, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    one = deterministic_context(tmp_path / "one", 1_111_111_111)
    two = deterministic_context(tmp_path / "elsewhere" / "two", 1_222_222_222)
    # The other store's cache holds the same steps built under other time settings.
    _build(other_store.root, two, "--timestamp", "now")
    _build(other_store.root, two, env={"SOURCE_DATE_EPOCH": "1700000000"})
    cold = _build(busybox_store.root, one)
    time.sleep(2.1)
    warm = _build(other_store.root, two)
    assert cold == warm
    assert _manifest_digest(busybox_store.root, cold) == _manifest_digest(other_store.root, warm)
    again = _build(other_store.root, two, "--no-cache")
    assert again == cold

    config = busybox_store.resolve_image(cold).config
    base = busybox_store.resolve_image("busybox").config["created"]
    assert config["created"] == base  # the build's time: the base image's
    assert {h["created"] for h in config["history"]} == {base}

    # save on one store, load into the other: the same ID and manifest digest
    archive = tmp_path / "image.tar"
    run_freight(busybox_store.root, "tag", cold, "repro:1", check=True)
    run_freight(busybox_store.root, "save", "-o", str(archive), "repro:1", check=True)
    run_freight(other_store.root, "rmi", "-f", warm, check=True)
    run_freight(other_store.root, "load", "-i", str(archive), check=True)
    assert _build_id(other_store.root, "repro:1") == cold
    assert _manifest_digest(other_store.root, "repro:1") == _manifest_digest(busybox_store.root, cold)


def _build_id(root: Path, image: str) -> str:
    return run_freight(root, "image", "inspect", "--format", "{{.Id}}", image, check=True).stdout.strip()


def test_run_output_and_added_files_are_clamped_in_layer_and_snapshot(busybox_store: Store, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    ctx = deterministic_context(tmp_path / "ctx", 1_111_111_111)
    image = busybox_store.resolve_image(_build(busybox_store.root, ctx))
    t = _epoch_of(busybox_store, "busybox")
    for dirs in busybox_store.layer_dirs(image)[1:]:
        for path in Path(dirs).rglob("*"):
            st = path.lstat()
            assert st.st_mtime_ns % 1_000_000_000 == 0 and st.st_mtime <= t, path
    unpacked = Path(busybox_store.layer_dirs(image)[3])
    assert (unpacked / "opt/bundle/old.txt").lstat().st_mtime == 1_000_000  # older times are kept
    assert (unpacked / "opt/bundle/future.txt").lstat().st_mtime == t


def _epoch_of(store: Store, name: str) -> int:
    return created_seconds(store.resolve_image(name).config["created"])


def test_timestamp_now_uses_the_wall_clock(busybox_store: Store, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    ctx = deterministic_context(tmp_path / "ctx", 1_111_111_111)
    before = time.time()
    image = _build(busybox_store.root, ctx, "--timestamp", "now", "--no-cache")
    assert created_seconds(busybox_store.resolve_image(image).config["created"]) >= int(before)
    assert _build(busybox_store.root, ctx, "--timestamp", "1700000000") != image
    assert busybox_store.resolve_image(_build(busybox_store.root, ctx, "--timestamp", "1700000000")) \
        .config["created"] == "2023-11-14T22:13:20Z"
    by_arg = _build(busybox_store.root, ctx, "--build-arg", "SOURCE_DATE_EPOCH=1600000000")
    assert busybox_store.resolve_image(by_arg).config["created"] == "2020-09-13T12:26:40Z"
    bad = run_freight(busybox_store.root, "build", "--timestamp", "yesterday", str(ctx))
    assert bad.returncode == 1 and "invalid --timestamp" in bad.stderr
