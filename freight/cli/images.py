"""Image commands: images, tag, rmi, history, and the `image` group (``freight import`` is
``freight.cli.image_import``'s)."""

from __future__ import annotations

import argparse
import fnmatch
import sys
from importlib import import_module

from freight.cli.format import Template, docker_time, human_size, render_table, since
from freight.cli.main import Subcommands, store
from freight.errors import FreightError, InvalidArgument
from freight.image import reference
from freight.store.images import Image
from freight.store.inspect import image_history, image_inspect
from freight.store.prune import prune_images
from freight.store.store import Store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

_IMAGE_HEADERS = {"ID": "IMAGE ID", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT"}


def register(sub: Subcommands) -> None:
    _images_args(sub.add("images", cmd_images, help="List images"))
    _tag_args(sub.add("tag", cmd_tag, help="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"))
    _rmi_args(sub.add("rmi", cmd_rmi, help="Remove one or more images"))
    _history_args(sub.add("history", cmd_history, help="Show the history of an image"))


# The image group's commands that other modules define (imported only when asked for).
_IMAGE_GROUP_ELSEWHERE = {"freight.cli.build": ("build",), "freight.cli.pull": ("pull",),
                          "freight.cli.push": ("push",), "freight.cli.archive": ("save", "load"),
                          "freight.cli.image_import": ("import",)}


def register_image_group(sub: Subcommands) -> None:
    """``freight image ...``: the image commands, plus build, pull, push, save, load and import."""
    image = sub.group("image", help="Manage images")
    _images_args(image.add("ls", cmd_images, help="List images", aliases=["list"]))
    _rmi_args(image.add("rm", cmd_rmi, help="Remove one or more images", aliases=["remove"]))
    _tag_args(image.add("tag", cmd_tag, help="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"))
    _history_args(image.add("history", cmd_history, help="Show the history of an image"))
    inspect = image.add("inspect", cmd_image_inspect, help="Display detailed information on one or more images")
    inspect.add_argument("-f", "--format", help="Format output using a Go template")
    inspect.add_argument("images", nargs="+", metavar="IMAGE")
    prune = image.add("prune", cmd_image_prune, help="Remove unused images")
    prune.add_argument("-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones")
    prune.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    for module, names in _IMAGE_GROUP_ELSEWHERE.items():
        if image.wanted is None or image.wanted in names:
            import_module(module).register(image.only(names))


# -- images ------------------------------------------------------------------

def _images_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all images")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--digests", action="store_true", help="Show digests")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")


def _image_rows(images: list[Image], no_trunc: bool) -> Iterator[dict[str, str]]:
    """One row per tag, or a <none> row for an untagged image, as Docker lists them."""
    for image in images:
        image_id = image.id if no_trunc else image.id[7:19]
        digest = "<none>"
        if image.repo_digests:
            digest = image.repo_digests[0].partition("@")[2]
        names: list[reference.Reference | None] = [reference.parse_normalized(t) for t in image.repo_tags]
        for ref in names or [None]:
            yield {
                "Containers": "N/A", "CreatedAt": docker_time(image.created),
                "CreatedSince": since(image.created), "Digest": digest, "ID": image_id,
                "Repository": ref.familiar_repository if ref else "<none>",
                "SharedSize": "N/A", "Size": human_size(image.size),
                "Tag": (ref.tag or "<none>") if ref else "<none>", "UniqueSize": "N/A",
                "VirtualSize": human_size(image.size),
            }


def _filters(specs: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep or key not in ("dangling", "reference", "label", "before", "since"):
            raise InvalidArgument(f"invalid filter '{spec}'")
        out.setdefault(key, []).append(value)
    return out


def _select(st: Store, images: list[Image], filters: dict[str, list[str]]) -> list[Image]:
    for value in filters.get("dangling", []):
        if value not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")
        want = value in ("true", "1")
        images = [i for i in images if (not i.repo_tags) == want]
    for key in ("before", "since"):
        for value in filters.get(key, []):
            pivot = st.resolve_image(value).created
            images = [i for i in images if (i.created < pivot if key == "before" else i.created > pivot)]
    for value in filters.get("label", []):
        k, _, v = value.partition("=")
        images = [i for i in images if k in (labels := i.config.get("config", {}).get("Labels") or {})
                  and (not v or labels[k] == v)]
    return images


def _matches_reference(row: dict[str, str], patterns: list[str]) -> bool:
    name = f"{row['Repository']}:{row['Tag']}"
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(row["Repository"], p) for p in patterns)


def cmd_images(args: argparse.Namespace) -> int:
    st = store(args)
    filters = _filters(args.filter)
    images = _select(st, st.images.all(), filters)
    rows = list(_image_rows(images, args.no_trunc))
    patterns = filters.get("reference", [])
    if args.repository:
        patterns.append(args.repository)
    if patterns:
        rows = [r for r in rows if _matches_reference(r, patterns)]
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
    render_table([[headers[c] for c in columns]] + [[r[c] for c in columns] for r in rows])
    return 0


# -- tag, rmi, inspect, prune -----------------------------------------------

def _tag_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")


def cmd_tag(args: argparse.Namespace) -> int:
    st = store(args)
    image = st.resolve_image(args.source)
    st.images.tag(image.id, reference.parse(args.target))
    return 0


def _rmi_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="Do not delete untagged parents")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def cmd_rmi(args: argparse.Namespace) -> int:
    st = store(args)
    status = 0
    for name in args.images:
        try:
            events = st.images.remove(name, force=args.force)
        except FreightError as err:
            sys.stderr.write(f"Error: {err}\n")
            status = 1
            continue
        for kind, what in events:
            print(f"{kind}: {what}")
    report = st.gc(wait=False)
    if report:
        for chain in report.deleted_snapshots:
            print(f"Deleted: {chain}")
    return status


def cmd_image_inspect(args: argparse.Namespace) -> int:
    st = store(args)
    return print_inspect([image_inspect(st, st.resolve_image(name)) for name in args.images], args.format)


def print_inspect(objects: list[dict[str, Any]], fmt: str | None) -> int:
    """Print ``inspect`` output: an indented JSON array, or one template line per object."""
    if fmt:
        Template(fmt).write(objects)
    else:
        import json  # see freight.cli.format._json

        print(json.dumps(objects, indent=4))
    return 0


def cmd_image_prune(args: argparse.Namespace) -> int:
    if not args.force and not confirm(
            "WARNING! This will remove all " + ("images without at least one container associated to them."
                                                if args.all else "dangling images.")):
        return 0
    report = prune_images(store(args), all_unused=args.all)
    if report.images:
        print("Deleted Images:")
        for kind, what in report.images:
            print(f"{kind.lower()}: {what}")
        print()
    print(f"Total reclaimed space: {human_size(report.reclaimed)}")
    return 0


def confirm(warning: str) -> bool:
    """Docker's prune prompt; in a pipe with no answer, the answer is no."""
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


# -- history -----------------------------------------------------------------

def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-H", "--human", default="true", choices=["true", "false"],
                   help="Print sizes and dates in human readable format")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("image", metavar="IMAGE")


def cmd_history(args: argparse.Namespace) -> int:
    st = store(args)
    entries = image_history(st, st.resolve_image(args.image))
    human = args.human == "true"
    rows = []
    for e in entries:
        image_id = e["Id"] if args.no_trunc or e["Id"] == "<missing>" else e["Id"][7:19]
        created_by = e["CreatedBy"].replace("\t", " ")
        if not args.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        rows.append({"ID": image_id, "CreatedSince": since(e["Created"]) if human else e["Created"],
                     "CreatedAt": e["Created"], "CreatedBy": created_by,
                     "Size": human_size(e["Size"]) if human else str(e["Size"]),
                     "Comment": e["Comment"]})
    if args.quiet:
        print("\n".join(r["ID"] for r in rows))
    elif args.format:
        Template(args.format, {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedBy": "CREATED BY"}).write(rows)
    else:
        cols = ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"]
        render_table([["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]]
                     + [[r[c] for c in cols] for r in rows])
    return 0
