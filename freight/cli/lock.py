"""``freight lock``: write the lock file of a Dockerfile (``freight.builder.lockfile``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from freight.cli.build import build_args

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.cli.main import Subcommands


def register(sub: Subcommands) -> None:
    p = sub.add("lock", _lock, help="Pin the images and downloads of a Dockerfile in a lock file beside it")
    p.add_argument("context", nargs="?", default=".", metavar="PATH",
                   help="the build context, whose Dockerfile is locked (default: .)")
    p.add_argument("-f", "--file", help="name of the Dockerfile (default: PATH/Dockerfile)")
    p.add_argument("--build-arg", action="append", default=[], help="set build-time variables")
    p.add_argument("--platform", default="", help="platforms to lock, comma-separated (default: the host's)")
    p.add_argument("--update", action="store_true", help="resolve every entry again, not only missing ones")


def _lock(args: argparse.Namespace) -> int:
    # The registry client and the Dockerfile parser: imported when a lock is made.
    from freight.builder.lockresolve import update_lock
    from freight.errors import FreightError

    dockerfile = Path(args.file) if args.file else Path(args.context) / "Dockerfile"
    if not dockerfile.is_file():
        sys.stderr.write(f"failed to read dockerfile: open {dockerfile}: no such file or directory\n")
        return 1
    try:
        path, lock, done = update_lock(dockerfile, build_args(args.build_arg), args.platform, args.update)
    except FreightError as err:
        sys.stderr.write(f"ERROR: {err}\n")
        return 1
    for line in done:
        print(f"locked {line}")
    print(f"{path}: {len(lock.images)} images, {len(lock.urls)} URLs")
    return 0
