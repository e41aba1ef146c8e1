"""``freight image inspect``: images as ``docker image inspect`` shows them."""

from __future__ import annotations

import argparse

from freight.cli.format import print_inspect
from freight.cli.main import Subcommands, store
from freight.store.inspect import image_inspect


def register(sub: Subcommands) -> None:
    p = sub.add("inspect", cmd_image_inspect, help="Display detailed information on one or more images")
    p.add_argument("-f", "--format", help="Format output using a Go template")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def cmd_image_inspect(args: argparse.Namespace) -> int:
    st = store(args)
    return print_inspect([image_inspect(st, st.resolve_image(name)) for name in args.images], args.format)
