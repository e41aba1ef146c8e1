"""``freight image diff``: config fields, then layer by layer the paths that differ, between
images of the store, of archives and of a registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from testlib import run_freight

from freight.store.store import Store
from tests.builder.buildutil import write_context

DOCKERFILE = "FROM busybox\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\nRUN echo same > /same\nENV DONE=1\n"


def _two_builds(store: Store, tmp_path: Path) -> None:
    """``one`` and ``two``: the same Dockerfile, where only the copied ``b.txt`` differs."""
    for tag, text in (("one", "b\n"), ("two", "B!\n")):
        ctx = write_context(tmp_path / tag, {"a.txt": "a\n", "b.txt": text, "Dockerfile": DOCKERFILE})
        built = run_freight(store.root, "build", "-q", "-t", f"diff:{tag}", str(ctx), timeout=300)
        assert built.returncode == 0, built.stderr


def _expect_only_b(stdout: str) -> None:
    lines = stdout.splitlines()
    assert lines[0].startswith("layer 2 (COPY b.txt /b.txt # buildkit): sha256:"), stdout
    assert len(lines) == 2 and lines[1].startswith("  ~ /b.txt: content "), stdout
    assert "size 2 -> 3 bytes" in lines[1]


def test_diff_names_the_one_file_and_its_layer(busybox_store: Store, tmp_path: Path) -> None:
    _two_builds(busybox_store, tmp_path)
    text = run_freight(busybox_store.root, "image", "diff", "diff:one", "diff:two")
    assert text.returncode == 0, text.stderr
    _expect_only_b(text.stdout)
    as_json = run_freight(busybox_store.root, "image", "diff", "--format", "json", "diff:one", "diff:two")
    doc = json.loads(as_json.stdout)
    assert doc["Config"] == [] and doc["History"] == []
    [layer] = doc["Layers"]
    assert layer["Index"] == 2 and layer["CreatedBy"].startswith("COPY b.txt")
    assert layer["Paths"] == [{"Path": "/b.txt", "Change": "changed", "Fields": {
        "digest": {"Old": layer["Paths"][0]["Fields"]["digest"]["Old"],
                   "New": layer["Paths"][0]["Fields"]["digest"]["New"]},
        "size": {"Old": 2, "New": 3}}}]
    same = run_freight(busybox_store.root, "image", "diff", "--exit-code", "diff:one", "diff:one")
    assert same.returncode == 0 and same.stdout == ""
    differs = run_freight(busybox_store.root, "image", "diff", "--exit-code", "diff:one", "diff:two")
    assert differs.returncode == 1 and differs.stdout == text.stdout


def test_diff_reads_archives_and_a_registry(busybox_store: Store, tmp_path: Path,
                                            registry: Callable[..., str]) -> None:
    _two_builds(busybox_store, tmp_path)
    root = busybox_store.root
    assert run_freight(root, "save", "-o", str(tmp_path / "one.tar"), "diff:one").returncode == 0
    assert run_freight(root, "push", "diff:two", f"oci-archive:{tmp_path / 'two.tar'}").returncode == 0
    assert run_freight(root, "push", "diff:one", f"oci:{tmp_path / 'layout'}").returncode == 0
    host = registry("freight")
    assert run_freight(root, "tag", "diff:two", f"{host}/diff:two").returncode == 0
    pushed = run_freight(root, "push", f"{host}/diff:two")
    assert pushed.returncode == 0, pushed.stderr
    for old, new in ((f"docker-archive:{tmp_path / 'one.tar'}", f"oci-archive:{tmp_path / 'two.tar'}"),
                     (f"oci:{tmp_path / 'layout'}", f"{host}/diff:two")):
        shown = run_freight(root, "image", "diff", old, new)
        assert shown.returncode == 0, shown.stderr
        _expect_only_b(shown.stdout)


def test_diff_of_a_missing_image_is_one_line(store: Store, tmp_path: Path) -> None:
    shown = run_freight(store.root, "image", "diff", f"oci:{tmp_path / 'none'}", "busybox")
    assert shown.returncode == 1
    assert len(shown.stderr.splitlines()) == 1 and "Traceback" not in shown.stderr
