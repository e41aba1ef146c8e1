"""``build --check``: a second build without cache, in separate state, must give the same image."""

from __future__ import annotations

import os
from pathlib import Path

from testlib import run_freight

from freight.store.store import Store
from tests.builder.buildutil import deterministic_context, run_dirs, write_context


def test_check_passes_on_a_deterministic_build(busybox_store: Store, tmp_path: Path) -> None:
    ctx = deterministic_context(tmp_path / "ctx", 1_111_111_111)
    result = run_freight(busybox_store.root, "build", "--check", "-t", "repro:1", "--progress", "plain", str(ctx),
                         timeout=300)
    assert result.returncode == 0, result.stderr
    image = busybox_store.resolve_image("repro:1")
    assert f"check: reproducible: both builds give {image.id}" in result.stderr
    assert not run_dirs(busybox_store)
    assert os.listdir(busybox_store.scratch_dir) == []
    # The check's store linked the base image's snapshots: removing it left them whole.
    base = busybox_store.layer_dirs(busybox_store.resolve_image("busybox"))[0]
    assert (base / "bin" / "busybox").is_file() and len(os.listdir(base / "bin")) > 50
    shown = run_freight(busybox_store.root, "run", "--rm", "--user", "0", "repro:1", "cat", "/x/link")
    assert shown.stdout == "hello\n"


def test_check_fails_and_names_the_file_that_differs(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"a.txt": "a\n", "Dockerfile": (
        "FROM busybox\nCOPY a.txt /a.txt\nRUN echo same > /same\n"
        "RUN sleep 1 && date > /stamp\nENV DONE=1\n")})
    result = run_freight(busybox_store.root, "build", "--check", "-q", str(ctx), timeout=300)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith("check: not reproducible: sha256:") for line in lines), result.stderr
    layer = [line for line in lines if line.startswith("layer ")]
    assert len(layer) == 1 and "RUN /bin/sh -c sleep 1 && date > /stamp" in layer[0] and layer[0].startswith("layer 3 ")
    changed = [line.strip() for line in lines if line.startswith("  ")]
    assert changed == [next(line for line in changed if line.startswith("~ /stamp: content "))]
    assert not [line for line in lines if line.startswith("config ")]
    assert not run_dirs(busybox_store)


def test_check_refuses_a_context_from_stdin(busybox_store: Store, tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM busybox\n")
    result = run_freight(busybox_store.root, "build", "--check", "-", stdin=dockerfile)
    assert result.returncode == 1
    assert "--check reads the context twice" in result.stderr
