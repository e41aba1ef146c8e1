"""The seed journeys on a real Debian root filesystem, where `apt-get install python3` really runs.

The course's Dockerfiles start from ``ubuntu`` images on Docker Hub, out of
reach here; a Debian bookworm minbase rootfs made by mmdebstrap (from the
host's apt sources) stands in for them under those names. RUN steps use the
host's network, so apt reaches the same package mirrors the host does.
Slow (about two minutes the first time), so it is one test per journey on one
shared store.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from testlib import REPO, SEEDS, require_root, run_freight


@pytest.fixture(scope="module")
def debian(tmp_path_factory: pytest.TempPathFactory, debian_rootfs_tar: Path) -> Path:
    """The root of a store whose ubuntu images are the Debian rootfs."""
    require_root()
    root = tmp_path_factory.mktemp("debian-root")
    _freight(root, "import", "--change", 'CMD ["bash"]', str(debian_rootfs_tar), "ubuntu:latest")
    for tag in ("ubuntu:noble-20240801", "ubuntu:noble"):
        _freight(root, "tag", "ubuntu:latest", tag)
    return root


def _freight(root: Path, *args: str) -> str:
    return run_freight(root, *args, timeout=600, check=True).stdout


def _context(tmp_path: Path, example: str) -> Path:
    ctx = tmp_path / example
    shutil.copytree(SEEDS / example, ctx)
    return ctx


def _build(root: Path, ctx: Path, tag: str) -> str:
    result = run_freight(root, "build", "--progress=plain", "-t", tag, ".", cwd=ctx, timeout=600)
    assert result.returncode == 0, f"build of {ctx.name}:\n{result.stderr}"
    return result.stdout + result.stderr


def _diff_ids(root: Path, image: str) -> list[str]:
    return json.loads(_freight(root, "image", "inspect", image))[0]["RootFS"]["Layers"]


def test_01_image_is_a_clone_of_its_base(debian: Path, tmp_path: Path) -> None:
    _build(debian, _context(tmp_path, "01-from-ubuntu"), "clone")
    assert _diff_ids(debian, "clone") == _diff_ids(debian, "ubuntu")


def test_02_03_apt_installs_python_and_copy_brings_the_app(debian: Path, tmp_path: Path) -> None:
    _build(debian, _context(tmp_path, "02-apt-python"), "apt-python")
    assert _freight(debian, "run", "--rm", "apt-python", "python3", "-c", "print(6 * 7)") == "42\n"
    _build(debian, _context(tmp_path, "03-pinned-copy"), "pinned-copy")
    assert _freight(debian, "run", "--rm", "pinned-copy", "python3", "/app/app.py") == \
        "hello from the container\n"
    listing = _freight(debian, "run", "--rm", "pinned-copy", "ls", "/app").split()
    assert sorted(listing) == ["Dockerfile", "app.py"]


def _reran(output: str, keyword: str) -> bool:
    """Whether the build's step starting with ``keyword`` ran (was not CACHED)."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "] " + keyword in line and line.startswith("#"):
            step = line.split()[0]
            return f"{step} CACHED" not in lines[i + 1:]
    raise AssertionError(f"no {keyword} step in:\n{output}")


@pytest.mark.parametrize("example, apt_reruns", [("05-cache-order-good", False),
                                                 ("04-cache-order-bad", True)])
def test_04_05_changing_app_py(debian: Path, tmp_path: Path, example: str,
                                apt_reruns: bool) -> None:
    ctx = _context(tmp_path, example)
    _build(debian, ctx, example)
    (ctx / "app.py").write_text('print("changed")\n')
    second = _build(debian, ctx, example)
    assert _reran(second, "COPY")
    assert _reran(second, "RUN apt-get") is apt_reruns
    assert _freight(debian, "run", "--rm", example, "python3", "/app/app.py") == "changed\n"


def test_06_07_cmd_is_overridden_entrypoint_is_not(debian: Path, tmp_path: Path) -> None:
    _build(debian, _context(tmp_path, "06-cmd"), "with-cmd")
    _build(debian, _context(tmp_path, "07-entrypoint"), "with-entrypoint")
    assert _freight(debian, "run", "--rm", "with-cmd") == "hello from the container\n"
    assert _freight(debian, "run", "--rm", "with-cmd", "echo", "overridden") == "overridden\n"
    assert _freight(debian, "run", "--rm", "with-entrypoint") == "hello from the container\n"
    assert _freight(debian, "run", "--rm", "with-entrypoint", "echo", "ignored") == \
        "hello from the container\n"


def test_apt_pinned_example_passes_build_check(debian: Path, tmp_path: Path) -> None:
    """examples/apt-pinned's install step, from the host's mirror instead of the dated
    snapshot (out of reach here): apt-get install is reproducible once what it stamps with
    the time is removed, and ``build --check`` shows it."""
    text = (REPO / "examples" / "apt-pinned" / "Dockerfile").read_text()
    text = text.replace("FROM debian:bookworm-slim", "FROM ubuntu:latest")
    text, found = re.subn(r"RUN echo .*?&& apt-get update", "RUN apt-get update", text, flags=re.S)
    assert found == 1
    ctx = tmp_path / "apt-pinned"
    shutil.copytree(REPO / "examples" / "apt-pinned", ctx)
    (ctx / "Dockerfile").write_text(text)
    result = run_freight(debian, "build", "--check", "-t", "apt-pinned", str(ctx), timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "check: reproducible: both builds give sha256:" in result.stderr
    assert _freight(debian, "run", "--rm", "apt-pinned") == "hello from pinned Debian packages\n"
