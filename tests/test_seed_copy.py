"""The seed examples copied into tests/ are the course's own, file for file.

The suite builds from the copy so that it needs nothing beside the repository; where
../shared/seed-examples is present (as on the machines this project is built on), this
test fails as soon as the two differ.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testlib import REPO, SEEDS

SHARED = REPO.parent / "shared" / "seed-examples"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_copy_has_every_example() -> None:
    names = {p.name for p in SEEDS.iterdir() if p.is_dir()}
    assert {"01-from-ubuntu", "05-cache-order-good", "09-diet"} <= names and len(names) == 9
    assert all((SEEDS / name / "Dockerfile").is_file() for name in names)


def test_the_copy_matches_the_shared_seed_examples() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/seed-examples is not beside this checkout: nothing to compare with")
    assert _files(SEEDS) == _files(SHARED)
