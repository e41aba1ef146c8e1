"""``freight commit``: a new image from a container's changes (``runtime.commit``)."""

from __future__ import annotations

import argparse

from freight.builder.container_commit import commit_container
from freight.cli.common import parse_bool
from freight.cli.main import Subcommands, store
from freight.image import reference


def register(sub: Subcommands) -> None:
    p = sub.add("commit", cmd_commit, help="Create a new image from a container's changes")
    p.add_argument("-a", "--author", default="", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    p.add_argument("-c", "--change", action="append", default=[],
                   help="Apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", default="", help="Commit message")
    p.add_argument("-p", "--pause", type=parse_bool, nargs="?", const=True, default=True,
                   help="Pause container during commit")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")


def cmd_commit(args: argparse.Namespace) -> int:
    tags = [str(reference.parse(args.repository))] if args.repository else []
    image = commit_container(store(args), args.container, tags, args.change, comment=args.message,
                             author=args.author, pause=args.pause)
    print(image.id)
    return 0
