"""``freight pause``/``unpause``: freeze and thaw containers' processes (``runtime.pause``)."""

from __future__ import annotations

import argparse

from freight.cli.common import each
from freight.cli.main import Subcommands, store
from freight.runtime.pause import pause, unpause


def register(sub: Subcommands) -> None:
    p = sub.add("pause", cmd_pause, help="Pause all processes within one or more containers")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p = sub.add("unpause", cmd_unpause, help="Unpause all processes within one or more containers")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def cmd_pause(args: argparse.Namespace) -> int:
    st = store(args)
    return each(args.containers, lambda ref: pause(st, ref))


def cmd_unpause(args: argparse.Namespace) -> int:
    st = store(args)
    return each(args.containers, lambda ref: unpause(st, ref))
