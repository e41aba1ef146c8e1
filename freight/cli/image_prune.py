"""``freight image prune``: dangling (or all unused) images, then the content only they used."""

from __future__ import annotations

import argparse

from freight.cli.common import confirm
from freight.cli.format import human_size
from freight.cli.main import Subcommands, store
from freight.runtime.prune import parse_filter_lists
from freight.store.prune import image_filter, prune_images


def register(sub: Subcommands) -> None:
    p = sub.add("prune", cmd_image_prune, help="Remove unused images")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help='Provide filter values (e.g. "until=<timestamp>")')


def cmd_image_prune(args: argparse.Namespace) -> int:
    filters = parse_filter_lists(args.filter, ("until", "label", "label!"))
    if not args.force and not confirm(
            "WARNING! This will remove all " + ("images without at least one container associated to them."
                                                if args.all else "dangling images.")):
        return 0
    report = prune_images(store(args), all_unused=args.all, selected=image_filter(filters))
    if report.images:
        print("Deleted Images:")
        for kind, what in report.images:
            print(f"{kind.lower()}: {what}")
        print()
    print(f"Total reclaimed space: {human_size(report.reclaimed)}")
    return 0
