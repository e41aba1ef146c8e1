"""``freight builder prune``: removing build cache, as ``docker builder prune`` does; and
``builder build``, the ``build`` command under another name."""

from __future__ import annotations

import argparse
import sys

from freight.builder.cache import prune_cache
from freight.cli.format import human_size
from freight.cli.main import store
from freight.runtime.limits import parse_memory
from freight.runtime.prune import parse_filter_lists

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.cli.main import Subcommands


def register(sub: Subcommands) -> None:
    b = sub.group("builder", help="Manage builds")
    if b.wanted != "prune":  # ``builder build`` is ``build``, one definition of its flags
        from freight.cli import build

        build.register(b.only(("build",)))
    pr = b.add("prune", _prune, help="Remove build cache")
    pr.add_argument("-a", "--all", action="store_true", help="remove all unused build cache, not just dangling ones")
    pr.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    pr.add_argument("--filter", action="append", default=[], help='Provide filter values (e.g. "until=24h")')
    pr.add_argument("--keep-storage", default="0", help="Amount of disk space to keep for cache")


def _prune(args: argparse.Namespace) -> int:
    filters = parse_filter_lists(args.filter, ("until",))
    keep = parse_memory(args.keep_storage, "--keep-storage") if args.keep_storage != "0" else 0
    if not args.force:
        what = "all build cache" if args.all else "all dangling build cache"
        sys.stdout.write(f"WARNING! This will remove {what}. Are you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    reclaimed = prune_cache(store(args), args.all, until=min(filters.get("until", [""])), keep_storage=keep)
    print(f"Total:\t{human_size(reclaimed)}")
    return 0
