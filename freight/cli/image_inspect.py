"""``freight image inspect``: images as ``docker image inspect`` shows them; with
``--provenance`` (here and on ``freight inspect``) the SLSA provenance statement kept
beside each image (``freight.builder.provenance``)."""

from __future__ import annotations

import argparse
import json

from freight.cli.format import inspect_each, print_inspect
from freight.cli.main import Subcommands, store
from freight.errors import NotFound
from freight.store import referrers
from freight.store.inspect import image_inspect
from freight.store.store import Store


def register(sub: Subcommands) -> None:
    p = sub.add("inspect", cmd_image_inspect, help="Display detailed information on one or more images")
    p.add_argument("-f", "--format", help="Format output using a Go template")
    add_provenance_flag(p)
    p.add_argument("images", nargs="+", metavar="IMAGE")


def add_provenance_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--provenance", action="store_true",
                   help="Show the provenance statement (in-toto, SLSA v1) kept beside each image")


def cmd_image_inspect(args: argparse.Namespace) -> int:
    st = store(args)
    if args.provenance:
        return print_provenance(st, args.images, args.format)
    return inspect_each(args.images, lambda name: image_inspect(st, st.resolve_image(name)), args.format)


def print_provenance(st: Store, names: list[str], fmt: str | None) -> int:
    """Print the provenance statements of the images ``names``, as ``inspect`` prints objects."""
    statements = []
    for name in names:
        image = st.resolve_image(name)
        found = referrers.referrers(st, image.manifest_digest, referrers.IN_TOTO)
        if not found:
            raise NotFound(f"No provenance for image: {name}")
        statements.append(json.loads(referrers.payload(st, found[0])))
    return print_inspect(statements, fmt)
