"""Lock files: the digests of what a Dockerfile pulls in, written beside it.

``freight lock`` resolves every image the Dockerfile names (each ``FROM``, ``COPY
--from=IMAGE``, ``RUN --mount=from=IMAGE``; FROM lines expanded with the global ARGs and
``--build-arg``s) to the digest its tag points at in the registry now (an index's or a
manifest's) and, for each platform, that platform's manifest digest; and downloads
every ``ADD <url>`` (git sources excepted) for its sha256. The lock file is
``<Dockerfile>.lock``: JSON with sorted keys, one value a line, so a change shows as a
small diff::

    {
      "images": {
        "docker.io/library/busybox:latest": {
          "digest": "sha256:...",
          "platforms": {
            "linux/amd64": "sha256:..."
          }
        }
      },
      "lockVersion": 1,
      "urls": {
        "https://example.com/tool.tar.gz": "sha256:..."
      }
    }

Without ``--update`` entries already in the file are kept and only missing ones are
resolved; ``--update`` resolves them all again. ``freight build`` uses the lock file
when there is one (``pinned``): a locked image is taken by its platform's digest (pulled
by digest when missing, whatever its tag means now), a locked URL must have its sha256.
``build --locked`` (``verify``) also fails, naming the image or URL, when the Dockerfile
names one the lock lacks or a tag now points elsewhere than the lock says.
"""

from __future__ import annotations

import json
from pathlib import Path

from freight.builder.dockerfile.expansion import expand_instruction, global_scope
from freight.builder.dockerfile.instructions import Dockerfile
from freight.builder.dockerfile.parser import StageGraph
from freight.builder.gitsource import is_git_url
from freight.errors import FreightError
from freight.image import platform as platforms
from freight.image import reference
from freight.record import Record, field

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

VERSION = 1
SUFFIX = ".lock"


class LockError(FreightError):
    """A lock file that cannot be read, or a build that does not match its lock (exit 1)."""

    exit_code = 1


class Lock(Record, frozen=False):
    """A lock file's content: image reference -> {"digest", "platforms"}, URL -> sha256."""

    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    def platform_digest(self, ref: str, plat: dict[str, str]) -> str | None:
        """The manifest digest locked for image ``ref`` (normalised) on ``plat``, if any."""
        entry = self.images.get(ref) or {}
        found: str | None = (entry.get("platforms") or {}).get(platforms.text(plat))
        return found


def lock_path(dockerfile: Path) -> Path:
    return dockerfile.with_name(dockerfile.name + SUFFIX)


def read_lock(path: Path) -> Lock | None:
    """The lock file at ``path``, None when there is none."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise LockError(f"cannot read lock file {path}: {err}") from None
    if not isinstance(data, dict) or data.get("lockVersion") != VERSION:
        raise LockError(f"lock file {path}: unsupported lockVersion {data.get('lockVersion')!r}"
                        if isinstance(data, dict) else f"lock file {path} is not a JSON object")
    return Lock(dict(data.get("images") or {}), dict(data.get("urls") or {}))


def normalised(word: str) -> str:
    """The key of an image in a lock file: its normalised reference."""
    return str(reference.parse(word))


def references(df: Dockerfile, build_args: Mapping[str, str], platform_args: Mapping[str, str]
               ) -> tuple[list[str], list[str]]:
    """The images (normalised) and the ``ADD`` URLs the Dockerfile names. URLs are expanded
    with the global ARGs only: one that uses a stage's ARG or ENV is not found."""
    global_env = global_scope(df, build_args, platform_args)
    images = [normalised(word) for word in StageGraph(df, global_env).images(df)]
    urls = []
    for stage in df.stages:
        for instr in stage.instructions:
            if instr.keyword == "ADD":
                sources = expand_instruction(instr, global_env, df.escape).copy_spec().sources
                urls += [s for s in sources if "://" in s and not is_git_url(s)]
    return list(dict.fromkeys(images)), list(dict.fromkeys(urls))


def pinned(lock: Lock | None, word: str, plat: dict[str, str]) -> str | None:
    """The reference to take for image ``word`` on ``plat`` under ``lock``: ``repo@digest``,
    or None when the lock does not name it (or ``word`` carries its own digest)."""
    if lock is None:
        return None
    ref = reference.parse(word)
    if ref.digest:
        return None
    digest = lock.platform_digest(str(ref), plat)
    return f"{ref.repository}@{digest}" if digest else None
