"""``freight diff`` and ``export``: a container's changes, and its whole filesystem as a tar
(``runtime.changes``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from freight.cli.archive import save_to_file
from freight.cli.main import Subcommands, store
from freight.errors import FreightError
from freight.runtime.changes import diff, export


def register(sub: Subcommands) -> None:
    p = sub.add("diff", cmd_diff, help="Inspect changes to files or directories on a container's filesystem")
    p.add_argument("container", metavar="CONTAINER")
    p = sub.add("export", cmd_export, help="Export a container's filesystem as a tar archive")
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument("container", metavar="CONTAINER")


def cmd_diff(args: argparse.Namespace) -> int:
    for kind, path in diff(store(args), args.container):
        print(f"{kind} {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    st = store(args)
    if args.output:
        save_to_file(lambda out: export(st, args.container, out), Path(args.output))
        return 0
    if sys.stdout.isatty():
        raise FreightError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    export(st, args.container, sys.stdout.buffer)
    return 0
