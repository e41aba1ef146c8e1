"""The seed examples copied into tests/ are the course's own, file for file.

The suite builds from the copy so that it needs nothing beside the repository.
``tests/seed-examples.sha256`` records the copy's files as it was made from
../shared/seed-examples (``sha256sum -c`` reads it too): the copy must match it
everywhere, and where ../shared/seed-examples is present (as on the machines this
project is built on) so must the course's own files, so a change on either side fails.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from testlib import REPO, SEEDS

SHARED = REPO.parent / "shared" / "seed-examples"
RECORD = SEEDS.parent / "seed-examples.sha256"


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _recorded() -> dict[str, str]:
    return {name: digest for digest, name in (line.split("  ", 1) for line in RECORD.read_text().splitlines())}


def test_the_copy_has_every_example() -> None:
    names = {p.name for p in SEEDS.iterdir() if p.is_dir()}
    assert {"01-from-ubuntu", "05-cache-order-good", "09-diet"} <= names and len(names) == 9
    assert all((SEEDS / name / "Dockerfile").is_file() for name in names)


def test_the_copy_is_the_course_s_own() -> None:
    recorded = _recorded()
    assert len(recorded) == 18
    assert _digests(SEEDS) == recorded
    if SHARED.is_dir():
        assert _digests(SHARED) == recorded
