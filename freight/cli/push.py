"""``freight push``: an image from the store to a registry (``freight.registry.push``) or an
archive transport (``oci:DIR[:ref]``...); exits 1 on any failure, as the docker CLI does."""

from __future__ import annotations

import argparse

from freight.cli.main import Subcommands, store
from freight.errors import FreightError, InvalidArgument
from freight.image import reference
from freight.registry.progress import reporter
from freight.registry.push import push
from freight.store.store import Store


def register(sub: Subcommands) -> None:
    p = sub.add("push", cmd_push, help="Upload an image to a registry")
    p.add_argument("-a", "--all-tags", action="store_true", help="push every tag of the repository")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    p.add_argument("image", metavar="NAME[:TAG]")
    p.add_argument("dest", nargs="?", metavar="DESTINATION",
                   help="push under another name, or to oci:DIR[:ref], oci-archive:FILE[:ref], "
                        "docker-archive:FILE[:ref]")


def cmd_push(args: argparse.Namespace) -> int:
    progress = reporter(args.quiet)
    try:
        if args.all_tags and args.dest:
            raise InvalidArgument("a destination can't be used with --all-tags/-a")
        images = store(args)
        names = _local_tags(images, args.image) if args.all_tags else [args.image]
        for name in names:
            push(images, name, args.dest, progress)
    finally:
        progress.close()
    if args.quiet:
        print(args.dest or args.image)
    return 0


def _local_tags(images: Store, name: str) -> list[str]:
    """``push --all-tags``: every local tag of repository ``name``."""
    ref = reference.parse(name, default_tag=False)
    if ref.tag or ref.digest:
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    tags = sorted(tag for image in images.images.all() for tag in image.repo_tags
                  if reference.parse(tag).repository == ref.repository)
    if not tags:
        raise FreightError(f"An image does not exist locally with the tag: {ref.familiar()}")
    return tags
