"""``freight images``, ``tag`` and ``rmi``, and the ``image`` group, which takes its other
commands from their own modules (``history``, ``image_inspect``, ``image_prune``,
``image_import``, ``build``, ``pull``, ``push``, ``archive``)."""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from freight.cli.format import FORMAT_HELP, Row, Template, docker_time, human_size, render_table, since
from freight.cli.main import Subcommands, store
from freight.errors import FreightError
from freight.image import reference
from freight.store.filters import matches_reference, parse_image_filters, select_images
from freight.store.images import Image

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Iterator

_IMAGE_HEADERS = {"ID": "IMAGE ID", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT"}


def register(sub: Subcommands) -> None:
    _images_args(sub.add("images", cmd_images, help="List images"))
    _tag_args(sub.add("tag", cmd_tag, help="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"))
    _rmi_args(sub.add("rmi", cmd_rmi, help="Remove one or more images"))


# The image group's commands that other modules define (each imported only when asked for).
_IMAGE_GROUP_ELSEWHERE = {"freight.cli.history": ("history",), "freight.cli.image_import": ("import",),
                          "freight.cli.image_inspect": ("inspect",), "freight.cli.image_diff": ("diff",),
                          "freight.cli.image_prune": ("prune",),
                          "freight.cli.build": ("build",), "freight.cli.pull": ("pull",),
                          "freight.cli.push": ("push",), "freight.cli.archive": ("save", "load")}


def register_image_group(sub: Subcommands) -> None:
    """``freight image ...``: ls, rm and tag, and the commands of ``_IMAGE_GROUP_ELSEWHERE``."""
    image = sub.group("image", help="Manage images")
    _images_args(image.add("ls", cmd_images, help="List images", aliases=["list"]))
    _rmi_args(image.add("rm", cmd_rmi, help="Remove one or more images", aliases=["remove"]))
    _tag_args(image.add("tag", cmd_tag, help="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"))
    known = {"ls", "list", "rm", "remove", "tag"}.union(*_IMAGE_GROUP_ELSEWHERE.values())
    for module, names in _IMAGE_GROUP_ELSEWHERE.items():
        if image.wanted in names or image.wanted not in known:  # not known: all, for help or the usage error
            import_module(module).register(image.only(names))


# -- images ------------------------------------------------------------------

def _images_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all images (default hides intermediate images)")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--digests", action="store_true", help="Show digests")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    p.add_argument("--format", help=FORMAT_HELP)
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")


def _image_rows(images: list[Image], no_trunc: bool) -> Iterator[Row]:
    """One row per tag, or a <none> row for an untagged image, as Docker lists them: newest first."""
    for image in sorted(images, key=lambda i: i.created, reverse=True):
        image_id = image.id if no_trunc else image.id[7:19]
        digest = "<none>"
        if image.repo_digests:
            digest = image.repo_digests[0].partition("@")[2]
        names: list[reference.Reference | None] = [reference.parse_normalized(t) for t in image.repo_tags]
        for ref in names or [None]:
            yield Row({
                "Containers": "N/A", "CreatedAt": docker_time(image.created),
                "CreatedSince": since(image.created), "Digest": digest, "ID": image_id,
                "Repository": ref.familiar_repository if ref else "<none>",
                "SharedSize": "N/A", "Size": human_size(image.size),
                "Tag": (ref.tag or "<none>") if ref else "<none>", "UniqueSize": "N/A",
                "VirtualSize": human_size(image.size, 4),
            })


def cmd_images(args: argparse.Namespace) -> int:
    st = store(args)
    filters = parse_image_filters(args.filter)
    images = select_images(st, st.images.all(), filters)
    rows = list(_image_rows(images, args.no_trunc))
    patterns = filters.get("reference", [])
    if args.repository:
        patterns.append(args.repository)
    if patterns:
        rows = [r for r in rows if matches_reference(str(r["Repository"]), str(r["Tag"]), patterns)]
    if args.quiet:
        for image_id in dict.fromkeys(r["ID"] for r in rows):
            print(image_id)
        return 0
    if args.format:
        Template(args.format, _IMAGE_HEADERS).write(rows)
        return 0
    columns = ["Repository", "Tag"] + (["Digest"] if args.digests else []) + ["ID", "CreatedSince", "Size"]
    headers = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
               "CreatedSince": "CREATED", "Size": "SIZE"}
    render_table([[headers[c] for c in columns]] + [[str(r[c]) for c in columns] for r in rows])
    return 0


# -- tag, rmi, and the prune prompt -----------------------------------------

def _tag_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")


def cmd_tag(args: argparse.Namespace) -> int:
    from freight.store.image_edits import tag_image  # json (events): ``images``, in this module, lists without it

    tag_image(store(args), args.source, reference.parse(args.target))  # the name is checked first
    return 0


def _rmi_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="Do not delete untagged parents")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def cmd_rmi(args: argparse.Namespace) -> int:
    from freight.store.image_edits import remove_image  # see cmd_tag

    st = store(args)
    status = 0
    for name in args.images:
        try:
            removed = remove_image(st, name, force=args.force)
        except FreightError as err:
            sys.stderr.write(f"Error response from daemon: {err}\n")
            status = 1
            continue
        for kind, what in removed:
            print(f"{kind}: {what}")
    report = st.gc(wait=False)
    if report:
        for chain in report.deleted_snapshots:
            print(f"Deleted: {chain}")
    return status

