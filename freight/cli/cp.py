"""``cp``: copy files between a container and the host."""

from __future__ import annotations

import argparse
import sys

from freight.cli.main import Subcommands, store
from freight.errors import InvalidArgument
from freight.runtime import cp


def register(sub: Subcommands) -> None:
    p = sub.add("cp", cmd_cp, help="Copy files/folders between a container and the local filesystem",
                usage="%(prog)s [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\t%(prog)s [OPTIONS] SRC_PATH|- "
                      "CONTAINER:DEST_PATH")
    p.add_argument("-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output during copy")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dest", metavar="DEST")


def cmd_cp(args: argparse.Namespace) -> int:
    src_container, src = cp.split_target(args.src)
    dest_container, dest = cp.split_target(args.dest)
    if src_container and dest_container:
        raise InvalidArgument("copying between containers is not supported")
    if not (src_container or dest_container):
        raise InvalidArgument("must specify at least one container source")
    st = store(args)
    if src_container:
        cp.copy_out(st, src_container, src, dest, args.archive, args.follow_link, stdout=sys.stdout.buffer)
    else:
        assert dest_container is not None
        cp.copy_in(st, dest_container, src, dest, args.archive, args.follow_link, stdin=sys.stdin.buffer)
    if not args.quiet and "-" not in (src, dest) and sys.stderr.isatty():
        sys.stderr.write(f"Successfully copied to {args.dest}\n")
    return 0
