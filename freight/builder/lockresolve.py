"""Filling and checking lock files against the registries (``freight lock``, ``build --locked``).

See ``freight.builder.lockfile`` for the format and the rules. Imported only by ``freight
lock`` and ``build --locked``: a build that merely follows its lock file asks no registry.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from freight.builder.copyadd import fetch_url
from freight.builder.dockerfile.parser import parse
from freight.builder.lockfile import VERSION, Lock, LockError, lock_path, read_lock, references
from freight.builder.state import platform_args
from freight.errors import FreightError
from freight.image import platform as platforms
from freight.registry.resolve import resolve

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Mapping


def _platforms(spec: str) -> list[dict[str, str]]:
    """``--platform a,b`` as platforms; the host's when empty."""
    return [platforms.parse(p.strip()) for p in spec.split(",") if p.strip()] or [platforms.host_platform()]


def update_lock(dockerfile: Path, build_args: Mapping[str, str], platform: str, update: bool
                ) -> tuple[Path, Lock, list[str]]:
    """Write the lock file of ``dockerfile``; its path, content and one line per entry resolved."""
    wanted = _platforms(platform)
    df = parse(dockerfile.read_text(), dockerfile.name)
    images, urls = references(df, build_args, platform_args(platforms.text(wanted[0])))
    path = lock_path(dockerfile)
    old = (None if update else read_lock(path)) or Lock()
    lock = Lock()
    done: list[str] = []
    for ref in images:
        entry = old.images.get(ref)
        have = (entry or {}).get("platforms") or {}
        if entry is None or any(platforms.text(p) not in have for p in wanted):
            try:
                found = resolve(ref, wanted)
            except FreightError as err:
                raise LockError(f"{ref}: {err}") from None
            entry = {"digest": found.digest, "platforms": {**have, **found.platforms}}
            done.append(f"{ref}@{found.digest}")
        lock.images[ref] = entry
    for url in urls:
        if url in old.urls:
            lock.urls[url] = old.urls[url]
            continue
        lock.urls[url] = _url_digest(url)
        done.append(f"{url} {lock.urls[url]}")
    write_lock(path, lock)
    return path, lock, done


def write_lock(path: Path, lock: Lock) -> None:
    """Write ``lock`` to ``path`` atomically (readers see the old file or the new one)."""
    text = json.dumps({"lockVersion": VERSION, "images": lock.images, "urls": lock.urls}, indent=2,
                      sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _url_digest(url: str) -> str:
    tmp = tempfile.mkdtemp(prefix="freight-lock-")
    try:
        digest, _mtime = fetch_url(url, str(Path(tmp) / "download"))
    except FreightError as err:
        raise LockError(f"{url}: {err}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return digest


def verify(lock: Lock | None, path: Path, images: list[str], urls: list[str], plat: dict[str, str]) -> None:
    """``build --locked``: fail, naming it, on the first image or URL the lock lacks, or
    image whose tag now points at another digest than the lock says."""
    if lock is None:
        raise LockError(f"--locked: there is no lock file {path}: run freight lock")
    for ref in images:
        entry = lock.images.get(ref)
        locked = lock.platform_digest(ref, plat)
        if entry is None or locked is None:
            raise LockError(f"--locked: {ref} ({platforms.text(plat)}) is not in {path.name}: run freight lock")
        try:
            found = resolve(ref, [plat])
        except FreightError as err:
            raise LockError(f"--locked: {ref}: {err}") from None
        now = found.platforms[platforms.text(plat)]
        if (found.digest, now) != (entry.get("digest"), locked):
            raise LockError(f"--locked: {ref} resolves to {now}, {path.name} has {locked}: "
                            "run freight lock --update")
    for url in urls:
        if url not in lock.urls:
            raise LockError(f"--locked: {url} is not in {path.name}: run freight lock")
