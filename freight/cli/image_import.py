"""``freight import`` (and ``image import``): a one-layer image from a root filesystem tar,
a file, stdin or a URL (``freight.store.importer``)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from freight.builder.changes import apply_changes
from freight.cli.main import Subcommands, store
from freight.errors import FreightError
from freight.image import reference
from freight.store.importer import import_rootfs

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import BinaryIO


def register(sub: Subcommands) -> None:
    _import_args(sub.add("import", cmd_import,
                         help="Import the contents from a tarball to create a filesystem image"))


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--change", action="append", default=[],
                   help="Apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", default="", help="Set commit message for imported image")
    p.add_argument("--platform", help="Set platform if server is multi-platform capable")
    p.add_argument("source", metavar="file|URL|-")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")


def cmd_import(args: argparse.Namespace) -> int:
    tags = [args.repository] if args.repository else []
    for tag in tags:
        reference.parse(tag)
    config = apply_changes({}, args.change)
    st = store(args)
    source, comment = _import_source(args.source)
    _refuse_empty(source)
    image = import_rootfs(st, source, tags, config, args.message or comment)
    print(image.id)
    return 0


def _import_source(text: str) -> tuple[Path | BinaryIO, str]:
    if text == "-":
        return sys.stdin.buffer, "Imported from -"
    if text.startswith(("http://", "https://")):
        return _download(text), f"Imported from {text}"
    path = Path(text)
    if not path.exists():
        raise FreightError(f"open {text}: no such file or directory")
    return path, "Imported from -"


def _refuse_empty(source: Path | BinaryIO) -> None:
    """No image from nothing: empty input is no tar archive (an empty one is 1024 zero bytes)."""
    if isinstance(source, Path):
        empty = source.is_file() and source.stat().st_size == 0
    else:
        empty = not source.peek(1)  # type: ignore[attr-defined]  # stdin or a download: buffered
    if empty:
        raise FreightError("invalid archive: empty input")


def _download(url: str) -> BinaryIO:
    """Fetch a rootfs tar into a temporary file (the import reads it once, streaming)."""
    import httpx  # heavy: only an import from a URL needs it

    tmp = tempfile.TemporaryFile()
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes(1 << 20):
                tmp.write(chunk)
    except httpx.HTTPError as err:
        raise FreightError(f"failed to download {url}: {err}") from None
    tmp.seek(0)
    return tmp
