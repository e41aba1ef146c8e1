"""examples/: every Dockerfile parses, and the README's walkthrough of examples/pipeline
does what it says (lock, build, --check, change the data, rebuild)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from testlib import REPO, run_freight

from freight.builder.dockerfile.parser import parse
from freight.store.store import Store

EXAMPLES = REPO / "examples"


@pytest.mark.parametrize("name", sorted(p.parent.name for p in EXAMPLES.glob("*/Dockerfile")))
def test_example_dockerfiles_parse(name: str) -> None:
    df = parse((EXAMPLES / name / "Dockerfile").read_text())
    assert df.stages


def test_the_readme_walkthrough(busybox_store: Store, registry: Callable[..., str], tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    assert "### Walkthrough: a reproducible pipeline" in readme
    host = registry("freight")
    example = tmp_path / "pipeline"
    shutil.copytree(EXAMPLES / "pipeline", example)
    root = busybox_store.root

    def freight(*args: str) -> str:
        return run_freight(root, *args, check=True, timeout=300).stdout

    base = f"--build-arg=BASE={host}/busybox:1"
    freight("tag", "busybox", f"{host}/busybox:1")
    freight("push", f"{host}/busybox:1")
    freight("lock", base, str(example))
    assert f'"{host}/busybox:1"' in (example / "Dockerfile.lock").read_text()
    first = freight("build", base, "-q", "-t", "pipeline:1", str(example)).strip()
    assert freight("run", "--rm", "pipeline:1").splitlines()[:3] == ["      4 apple", "      3 banana",
                                                                       "      2 kiwi"]
    checked = run_freight(root, "build", base, "--check", str(example), timeout=300)
    assert checked.returncode == 0, checked.stderr
    assert f"check: reproducible: both builds give {first}" in checked.stderr

    data = example / "data" / "fruits.txt"
    original = data.read_text()
    data.write_text(original + "apple kiwi\n")
    changed = run_freight(root, "build", base, "--progress", "plain", "-t", "pipeline:2", str(example),
                          timeout=300)
    assert changed.returncode == 0, changed.stderr
    assert re.search(r"COPY --chmod=755 count.sh /pipeline/count.sh\n#\d+ CACHED", changed.stderr)
    second = busybox_store.resolve_image("pipeline:2").id
    assert second != first
    data.write_text(original)
    assert freight("build", base, "-q", str(example)).strip() == first
    locked = run_freight(root, "build", base, "--locked", "-q", str(example), timeout=300)
    assert locked.returncode == 0 and locked.stdout.strip() == first
