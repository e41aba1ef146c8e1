"""``restart``: stop, then start again, one or more containers."""

from __future__ import annotations

import argparse

from freight.cli.common import add_stop_flags, each
from freight.cli.main import Subcommands, store
from freight.runtime import lifecycle, supervise


def register(sub: Subcommands) -> None:
    p = sub.add("restart", cmd_restart, help="Restart one or more containers")
    add_stop_flags(p)
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def cmd_restart(args: argparse.Namespace) -> int:
    st = store(args)

    def restart(ref: str) -> None:
        lifecycle.stop(st, ref, args.time, args.signal)
        supervise.start(st, ref)

    return each(args.containers, restart)
