"""``freight rename``."""

from __future__ import annotations

import argparse
import sys

from freight.cli.main import Subcommands, store
from freight.errors import FreightError
from freight.runtime.rename import rename


def register(sub: Subcommands) -> None:
    p = sub.add("rename", cmd_rename, help="Rename a container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NEW_NAME")


def cmd_rename(args: argparse.Namespace) -> int:
    try:
        rename(store(args), args.container, args.new_name)
    except FreightError as err:  # Docker's CLI adds its own line under the daemon's
        sys.stderr.write(f"Error response from daemon: {err}\n")
        raise FreightError(f"failed to rename container named {args.container}") from None
    return 0
