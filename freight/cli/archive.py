"""`freight save` and `freight load` (also reusable as `image save` / `image load`).

``add_save_args``/``cmd_save`` and ``add_load_args``/``cmd_load`` are the
parser setup and handler of each command, so a command group can mount them
under another name.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from freight.archive.atomic import write_atomic
from freight.archive.load import load
from freight.archive.save import save
from freight.cli.main import Subcommands, store
from freight.errors import FreightError

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

SAVE_HELP = "Save one or more images to a tar archive (streamed to STDOUT by default)"
LOAD_HELP = "Load an image from a tar archive or STDIN"


def register(sub: Subcommands) -> None:
    add_save_args(sub.add("save", cmd_save, help=SAVE_HELP))
    add_load_args(sub.add("load", cmd_load, help=LOAD_HELP))


def add_save_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    parser.add_argument("images", nargs="+", metavar="IMAGE")


def add_load_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", help="Read from tar archive file (or OCI layout directory), "
                        "instead of STDIN")
    parser.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")


def cmd_save(args: argparse.Namespace) -> int:
    if not args.output:
        if sys.stdout.isatty():
            raise FreightError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        save(store(args), args.images, sys.stdout.buffer)
        return 0
    save_to_file(lambda out: save(store(args), args.images, out), Path(args.output))
    return 0


def save_to_file(write: Callable[[BinaryIO], None], path: Path) -> None:
    """Write through a temporary file beside ``path`` and rename it into place, as Docker's CLI does.

    An existing non-regular file (``/dev/null``, a FIFO) is written to directly, never replaced.
    """
    if path.exists() and not path.is_file():
        with path.open("wb") as out:
            write(out)
        return
    if not path.parent.is_dir():
        raise FreightError(f'failed to save image: invalid output path: directory "{path.parent}" does not exist')
    write_atomic(path, write, mode=0o666 & ~_umask(), prefix=".freight_temp_")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def cmd_load(args: argparse.Namespace) -> int:
    source: BinaryIO | Path
    if args.input in (None, "-"):
        if args.input is None and sys.stdin.isatty():
            raise FreightError("requested load from stdin, but stdin is empty")
        source = sys.stdin.buffer
    else:
        source = Path(args.input)
        if not source.exists():
            raise FreightError(f"open {args.input}: no such file or directory")
    st = store(args)
    for image in load(st, source):
        for tag, old_id in image.replaced:
            print(f"The image {tag} already exists, renaming the old one with ID {old_id} to empty string")
        for tag in image.tags:
            print(f"Loaded image: {tag}")
        if not image.tags:
            print(f"Loaded image ID: {image.id}")
    return 0
