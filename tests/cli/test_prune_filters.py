"""``--filter`` for image, container and system prune, and ``builder prune --keep-storage --filter``."""

from __future__ import annotations

import sqlite3
import tarfile
from pathlib import Path

from testlib import CLI

from freight.store import Store


def _dangling(cli: CLI, tmp_path: Path, label: str) -> str:
    """An untagged image labelled ``label`` (its ID)."""
    (tmp_path / label).write_text(label)
    with tarfile.open(tmp_path / f"{label}.tar", "w") as tar:
        tar.add(tmp_path / label, arcname=label)
    return cli("import", "--change", f"LABEL {label}", str(tmp_path / f"{label}.tar"), check=True).stdout.strip()


def _image_ids(cli: CLI) -> set[str]:
    return set(cli("images", "-a", "-q", "--no-trunc").stdout.split())


def test_image_prune_filters(cli: CLI, tmp_path: Path) -> None:
    keep, drop, other = (_dangling(cli, tmp_path, label) for label in ("keep=yes", "keep=no", "other=1"))
    cli("image", "prune", "-f", "--filter", "label=keep=no", check=True)
    assert _image_ids(cli) == {keep, other}
    cli("image", "prune", "-f", "--filter", "until=2000-01-01T00:00:00Z", check=True)  # all made later
    assert _image_ids(cli) == {keep, other}
    cli("image", "prune", "-f", "--filter", "label!=keep", check=True)
    assert _image_ids(cli) == {keep}
    bad = cli("image", "prune", "-f", "--filter", "bogus=1")
    assert (bad.returncode, bad.stderr) == (1, "Error: invalid filter 'bogus=1'\n")


def test_container_and_system_prune_filters(busybox_store: Store, cli: CLI) -> None:
    for name, label in (("ca", "team=a"), ("cb", "team=b"), ("cc", "other=1")):
        cli("create", "--name", name, "-l", label, "busybox", "true", check=True)
    cli("container", "prune", "-f", "--filter", "label!=team", check=True)
    assert set(cli("ps", "-a", "--format", "{{.Names}}").stdout.split()) == {"ca", "cb"}
    out = cli("system", "prune", "-f", "--filter", "label=team=a", check=True).stdout
    assert out.startswith("Deleted Containers:\n")
    assert set(cli("ps", "-a", "--format", "{{.Names}}").stdout.split()) == {"cb"}
    assert "busybox" in cli("images", "--format", "{{.Repository}}").stdout
    cli("container", "prune", "-f", "--filter", "until=1h", check=True)  # cb is newer than an hour
    assert cli("ps", "-a", "--format", "{{.Names}}").stdout == "cb\n"


def _cache_entries(store: Store) -> int:
    with sqlite3.connect(store.root / "metadata.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM build_cache").fetchone()[0])


def test_builder_prune_keeps_storage_and_recent_entries(busybox_store: Store, cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN head -c 100000 /dev/zero > /a\n"
                                         "RUN head -c 200000 /dev/zero > /b\n")
    cli("build", "-q", "-t", "cached", str(tmp_path), check=True)
    cli("rmi", "cached", check=True)
    entries = _cache_entries(busybox_store)
    assert entries >= 2
    cli("builder", "prune", "-a", "-f", "--filter", "until=2000-01-01T00:00:00Z", check=True)
    assert _cache_entries(busybox_store) == entries  # every entry was used since
    cli("builder", "prune", "-a", "-f", "--keep-storage", "1GB", check=True)
    assert _cache_entries(busybox_store) == entries  # they all fit
    out = cli("builder", "prune", "-a", "-f", "--keep-storage", "250kB", check=True).stdout
    assert 0 < _cache_entries(busybox_store) < entries and out.startswith("Total:")
    cli("builder", "prune", "-a", "-f", check=True)
    assert _cache_entries(busybox_store) == 0
