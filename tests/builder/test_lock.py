"""``freight lock`` and builds that follow lock files, against a registry on 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from testlib import run_freight, serve_http, stop_http

from freight.store import open_store
from freight.store.store import Store
from tests.builder.buildutil import write_context


class Served:
    def __init__(self, root: Path, url: str) -> None:
        self.root, self.url = root, url


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Served]:
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = serve_http(functools.partial(Quiet, directory=str(root)))  # type: ignore[arg-type]
    try:
        yield Served(root, f"http://127.0.0.1:{httpd.server_address[1]}")
    finally:
        stop_http(httpd)


def _push(store: Store, ref: str) -> str:
    """Push ``ref``; the manifest digest the registry has."""
    out = run_freight(store.root, "push", ref, check=True, timeout=300).stdout
    found = re.search(r"digest: (sha256:[0-9a-f]{64})", out)
    assert found, out
    return found.group(1)


def _marker_image(store: Store, tmp_path: Path, name: str, ref: str) -> str:
    """Push an image whose /marker holds ``name`` as ``ref``; its manifest digest."""
    ctx = write_context(tmp_path / f"base-{name}", {"Dockerfile": f"FROM busybox\nRUN echo {name} > /marker\n"})
    run_freight(store.root, "build", "-q", "-t", ref, str(ctx), check=True, timeout=300)
    return _push(store, ref)


def _used(root: Path, ctx: Path, *flags: str) -> tuple[int, str]:
    """Build ``ctx`` on the store at ``root``; the exit code and the /used file (or the error)."""
    result = run_freight(root, "build", "-q", "--no-cache", *flags, str(ctx), timeout=300)
    if result.returncode != 0:
        return result.returncode, result.stderr
    image = open_store(root).resolve_image(result.stdout.strip())
    return 0, (Path(open_store(root).layer_dirs(image)[-1]) / "used").read_text()


def test_lock_pins_base_images_and_urls(busybox_store: Store, registry: Callable[..., str], files: Served,
                                        tmp_path: Path) -> None:
    host = registry("freight")
    base, other = f"{host}/base:1", f"{host}/other:1"
    pushed = _marker_image(busybox_store, tmp_path, "A", base)
    _marker_image(busybox_store, tmp_path, "B", f"{host}/base:moved")
    _marker_image(busybox_store, tmp_path, "O", other)
    (files.root / "tool.txt").write_text("tool v1\n")
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": (
        f"ARG BASE={base}\nFROM $BASE AS build\nRUN cp /marker /used\n"
        f"FROM build\nCOPY --from={other} /marker /other\nADD {files.url}/tool.txt /tool.txt\n"
        "RUN cat /marker /other /tool.txt > /used\n")})
    fresh = tmp_path / "fresh-root"

    made = run_freight(busybox_store.root, "lock", str(ctx), timeout=120)
    assert made.returncode == 0, made.stderr
    lock_file = ctx / "Dockerfile.lock"
    lock = json.loads(lock_file.read_text())
    assert sorted(lock["images"]) == [f"{host}/base:1", f"{host}/other:1"]
    assert lock["images"][base]["digest"] == pushed
    assert list(lock["images"][base]["platforms"].values()) == [pushed]
    assert lock["urls"] == {f"{files.url}/tool.txt": "sha256:" + hashlib.sha256(b"tool v1\n").hexdigest()}
    assert lock_file.read_text().count("\n") > 10  # one value a line: diffs stay small

    assert _used(fresh, ctx, "--locked") == (0, "A\nO\ntool v1\n")
    # The tag moves: a build that follows the lock keeps the locked image; --locked refuses.
    run_freight(busybox_store.root, "tag", f"{host}/base:moved", base, check=True)
    assert _push(busybox_store, base) != pushed
    assert _used(fresh, ctx) == (0, "A\nO\ntool v1\n")
    assert _used(tmp_path / "cold-root", ctx) == (0, "A\nO\ntool v1\n")
    code, err = _used(fresh, ctx, "--locked")
    assert code == 1 and f"--locked: {base} resolves to " in err and "run freight lock --update" in err

    # --update takes the new image, and --locked passes again.
    assert run_freight(busybox_store.root, "lock", "--update", str(ctx), timeout=120).returncode == 0
    assert _used(fresh, ctx, "--locked") == (0, "B\nO\ntool v1\n")

    # A digest changed by hand, then a missing entry: --locked names the image.
    text = lock_file.read_text()
    locked = json.loads(text)["images"][other]["digest"]
    lock_file.write_text(text.replace(locked, "sha256:" + "0" * 64))
    code, err = _used(fresh, ctx, "--locked")
    assert code == 1 and f"--locked: {other} resolves to {locked}" in err
    broken = json.loads(text)
    del broken["images"][other]
    lock_file.write_text(json.dumps(broken))
    code, err = _used(fresh, ctx, "--locked")
    assert code == 1 and f"--locked: {other} (linux/" in err and "is not in Dockerfile.lock" in err
    assert run_freight(busybox_store.root, "lock", str(ctx), timeout=120).returncode == 0
    assert json.loads(lock_file.read_text())["images"][other]["digest"] == locked

    # A download whose content changed no longer matches its lock.
    (files.root / "tool.txt").write_text("tool v2\n")
    code, err = _used(fresh, ctx)
    assert code == 1 and "digest mismatch" in err


def test_lock_fails_naming_an_image_it_cannot_resolve(busybox_store: Store, registry: Callable[..., str],
                                                      tmp_path: Path) -> None:
    host = registry("freight")
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {host}/missing:1\n"})
    result = run_freight(busybox_store.root, "lock", str(ctx), timeout=120)
    assert result.returncode == 1 and f"{host}/missing:1" in result.stderr
    assert not (ctx / "Dockerfile.lock").exists()
    plain = write_context(tmp_path / "plain", {"Dockerfile": "FROM busybox\n"})
    locked = run_freight(busybox_store.root, "build", "--locked", str(plain))
    assert locked.returncode == 1 and "there is no lock file" in locked.stderr


def test_a_broken_lock_file_fails_the_build_in_one_line(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\n", "Dockerfile.lock": "{not json"})
    result = run_freight(busybox_store.root, "build", str(ctx))
    assert result.returncode == 1
    assert "cannot read lock file" in result.stderr and "Traceback" not in result.stderr
    (ctx / "Dockerfile.lock").write_text('{"lockVersion": 99}')
    result = run_freight(busybox_store.root, "build", str(ctx))
    assert result.returncode == 1 and "unsupported lockVersion 99" in result.stderr
