"""``freight volume``: create, ls, inspect, rm, prune (``docker volume``)."""

from __future__ import annotations

import argparse
import sys

from freight.cli.common import confirm, each
from freight.cli.format import Template, human_size, print_inspect
from freight.cli.main import Subcommands, store
from freight.errors import FreightError, InvalidArgument
from freight.runtime.prune import parse_filters, prune_volumes
from freight.runtime.volumes import (
    create_volume,
    get_volume,
    list_volumes,
    remove_volumes,
    select_volumes,
)


def register(sub: Subcommands) -> None:
    group = sub.group("volume", help="Manage volumes")
    p = group.add("create", cmd_create, help="Create a volume")
    p.add_argument("-d", "--driver", default="local", help="Specify volume driver name")
    p.add_argument("--label", action="append", default=[], help="Set metadata for a volume")
    p.add_argument("-o", "--opt", action="append", default=[], help="Set driver specific options")
    p.add_argument("name", nargs="?", metavar="VOLUME")
    p = group.add("ls", cmd_ls, help="List volumes", aliases=("list",))
    p.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="Provide filter values (e.g. 'dangling=true')")
    p.add_argument("--format", help="Format output using a custom template")
    p = group.add("inspect", cmd_inspect, help="Display detailed information on one or more volumes")
    p.add_argument("-f", "--format", help="Format output using a custom template")
    p.add_argument("names", nargs="+", metavar="VOLUME")
    p = group.add("rm", cmd_rm, help="Remove one or more volumes", aliases=("remove",))
    p.add_argument("-f", "--force", action="store_true", help="Force the removal of one or more volumes")
    p.add_argument("names", nargs="+", metavar="VOLUME")
    p = group.add("prune", cmd_prune, help="Remove unused local volumes")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused volumes, not just anonymous ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help='Provide filter values (e.g. "label=<label>")')


def _pairs(values: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (item.partition("=") for item in values)}


def cmd_create(args: argparse.Namespace) -> int:
    if args.opt:
        raise InvalidArgument("driver options (-o) are not supported by the local driver here")
    st = store(args)
    name = create_volume(st, args.name, _pairs(args.label), args.driver)["Name"]
    print(name)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    filters = parse_filters(args.filter, ("dangling", "name", "label", "driver"))
    st = store(args)
    volumes = select_volumes(st, list_volumes(st), filters)
    if args.quiet:
        for v in volumes:
            print(v["Name"])
        return 0
    Template(args.format or "table {{.Driver}}\t{{.Name}}", {"Name": "VOLUME NAME"}).write(volumes)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    st = store(args)
    found, status = [], 0
    for name in args.names:
        try:
            found.append(get_volume(st, name))
        except FreightError as err:
            sys.stderr.write(f"Error response from daemon: {err}\n")
            status = 1
    print_inspect(found, args.format)
    return status


def cmd_rm(args: argparse.Namespace) -> int:
    st = store(args)
    return each(args.names, lambda name: remove_volumes(st, name, args.force))


def cmd_prune(args: argparse.Namespace) -> int:
    filters = parse_filters(args.filter, ("label", "all"))
    everything = args.all or filters.pop("all", "").lower() in ("true", "1")
    what = "all local volumes" if everything else "anonymous local volumes"
    if not args.force and not confirm(f"WARNING! This will remove {what} not used by at least one container."):
        return 0
    removed, reclaimed = prune_volumes(store(args), everything, filters)
    if removed:
        print("Deleted Volumes:\n" + "".join(f"{name}\n" for name in removed))
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0
