"""``freight inspect``: containers and images, as ``docker inspect`` finds them."""

from __future__ import annotations

import argparse

from freight.cli.format import inspect_each
from freight.cli.image_inspect import add_provenance_flag, print_provenance
from freight.cli.main import Subcommands, store
from freight.errors import FreightError, NotFound
from freight.runtime.inspect import find_and_inspect
from freight.store.inspect import image_inspect
from freight.store.store import Store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any


def register(sub: Subcommands, kind: str | None = None) -> None:
    """``inspect``; a group passes ``kind`` (``container inspect`` looks only for containers)."""
    p = sub.add("inspect", cmd_inspect, help="Return low-level information on Docker objects")
    if kind:
        p.set_defaults(type=kind)
    p.add_argument("-f", "--format", help="Format output using a Go template")
    p.add_argument("--type", choices=["container", "image", "volume"], help="Return JSON for specified type")
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes if the type is container")
    add_provenance_flag(p)
    p.add_argument("names", nargs="+", metavar="NAME|ID")


def _inspect_one(st: Store, name: str, kind: str | None) -> dict[str, Any]:
    if kind in (None, "container", "volume"):
        found = find_and_inspect(st, name, kind)
        if found is not None:
            return found
    if kind in (None, "image"):
        image = st.images.lookup(name)
        if image is not None:
            return image_inspect(st, image)
    if kind is None:  # the docker CLI's own message, not the engine's
        raise FreightError(f"No such object: {name}")
    raise NotFound(f"No such {kind}: {name}")


def cmd_inspect(args: argparse.Namespace) -> int:
    st = store(args)
    if args.provenance:
        return print_provenance(st, args.names, args.format)
    return inspect_each(args.names, lambda name: _inspect_one(st, name, args.type), args.format)
