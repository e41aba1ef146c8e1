"""``freight network``: create, ls, inspect, rm, prune, connect, disconnect (``docker network``)."""

from __future__ import annotations

import argparse
import sys

from freight.cli.common import confirm
from freight.cli.format import Template, print_inspect
from freight.cli.main import Subcommands, store
from freight.errors import FreightError
from freight.runtime import networks
from freight.runtime.prune import parse_filter_lists, parse_filters

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any


def register(sub: Subcommands) -> None:
    group = sub.group("network", help="Manage networks")
    p = group.add("create", cmd_create, help="Create a network")
    p.add_argument("-d", "--driver", default="bridge", help="Driver to manage the Network")
    p.add_argument("--subnet", action="append", default=[],
                   help="Subnet in CIDR format that represents a network segment")
    p.add_argument("--gateway", action="append", default=[], help="IPv4 or IPv6 Gateway for the master subnet")
    p.add_argument("--internal", action="store_true", help="Restrict external access to the network")
    p.add_argument("--label", action="append", default=[], help="Set metadata on a network")
    p.add_argument("-o", "--opt", action="append", default=[], help="Set driver specific options")
    p.add_argument("--attachable", action="store_true", help="Enable manual container attachment")
    p.add_argument("--ipv6", action="store_true", help="Enable or disable IPv6 networking")
    p.add_argument("name", metavar="NETWORK")
    p = group.add("ls", cmd_ls, help="List networks", aliases=("list",))
    p.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")
    p.add_argument("-f", "--filter", action="append", default=[], help="Provide filter values (e.g. \"driver=bridge\")")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    p = group.add("inspect", cmd_inspect, help="Display detailed information on one or more networks")
    p.add_argument("-f", "--format", help="Format output using a custom template")
    p.add_argument("-v", "--verbose", action="store_true", help="Verbose output for diagnostics")
    p.add_argument("names", nargs="+", metavar="NETWORK")
    p = group.add("rm", cmd_rm, help="Remove one or more networks", aliases=("remove",))
    p.add_argument("-f", "--force", action="store_true", help="Do not error if the network does not exist")
    p.add_argument("names", nargs="+", metavar="NETWORK")
    p = group.add("prune", cmd_prune, help="Remove all unused networks")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help='Provide filter values (e.g. "until=<timestamp>")')
    p = group.add("connect", cmd_connect, help="Connect a container to a network")
    p.add_argument("--alias", action="append", default=[], help="Add network-scoped alias for the container")
    p.add_argument("--ip", default="", help="IPv4 address (e.g., \"172.30.100.104\")")
    p.add_argument("--ip6", default="", help="IPv6 address (e.g., \"2001:db8::33\")")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p = group.add("disconnect", cmd_disconnect, help="Disconnect a container from a network")
    p.add_argument("-f", "--force", action="store_true", help="Force the container to disconnect from a network")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")


def _fail(err: FreightError) -> int:
    sys.stderr.write(f"Error response from daemon: {err}\n")
    return 1


def cmd_create(args: argparse.Namespace) -> int:
    labels = {k: v for k, _, v in (item.partition("=") for item in args.label)}
    options = {k: v for k, _, v in (item.partition("=") for item in args.opt)}
    spec = networks.Spec(args.name, args.driver, _pools(args.subnet, args.gateway), args.internal, labels, options,
                         args.attachable, args.ipv6)
    try:
        network = networks.create(store(args), spec)
    except FreightError as err:
        if str(err).startswith("no matching subnet"):  # the client's own check: no daemon prefix
            sys.stderr.write(f"{err}\n")
            return 1
        return _fail(err)
    print(network.id)
    return 0


def _pools(subnets: list[str], gateways: list[str]) -> list[tuple[str, str]]:
    """Each ``--subnet`` with the first ``--gateway`` of its family (IPv4, IPv6); a gateway left
    over has no subnet (refused)."""
    left, pools = list(gateways), []
    for subnet in subnets:
        gateway = next((g for g in left if (":" in g) == (":" in subnet)), "")
        if gateway:
            left.remove(gateway)
        pools.append((subnet, gateway))
    return pools + [("", g) for g in left]


def _row(n: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    created = n["Created"].replace("T", " ").replace("Z", " +0000 UTC")
    return {"CreatedAt": created, "Driver": n["Driver"], "ID": n["Id"] if no_trunc else n["Id"][:12],
            "IPv4": "false", "IPv6": str(n["EnableIPv6"]).lower(), "Internal": str(n["Internal"]).lower(),
            "Labels": ",".join(f"{k}={v}" for k, v in n["Labels"].items()), "Name": n["Name"], "Scope": n["Scope"]}


def cmd_ls(args: argparse.Namespace) -> int:
    filters = parse_filters(args.filter, networks.FILTER_KEYS)
    rows = [_row(n, args.no_trunc) for n in networks.listing(store(args), filters)]
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    Template(args.format or "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
             {"ID": "NETWORK ID"}).write(rows)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    st = store(args)
    found, status, errors = [], 0, []
    for ref in args.names:
        try:
            found.append(networks.find(st, ref))
        except FreightError as err:
            errors.append(err)
            status = 1
    print_inspect(found, args.format)
    for error in errors:
        _fail(error)
    return status


def cmd_rm(args: argparse.Namespace) -> int:
    st = store(args)
    status = 0
    for ref in args.names:
        try:
            networks.remove(st, ref)
            print(ref, flush=True)
        except FreightError as err:
            if args.force and "not found" in str(err):
                continue
            _fail(err)
            status = 1
    if status:
        sys.stderr.write("exit status 1\n")
    return status


def cmd_prune(args: argparse.Namespace) -> int:
    try:
        filters = parse_filter_lists(args.filter, networks.PRUNE_FILTERS)
    except FreightError as err:
        return _fail(err)
    if not args.force and not confirm("WARNING! This will remove all custom networks not used by at least one "
                                      "container."):
        return 0
    removed = networks.prune(store(args), filters)
    if removed:
        print("Deleted Networks:\n" + "".join(f"{name}\n" for name in removed))
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    try:
        networks.connect(store(args), args.network, args.container, args.alias, args.ip, args.ip6)
    except FreightError as err:
        return _fail(err)
    return 0


def cmd_disconnect(args: argparse.Namespace) -> int:
    try:
        networks.disconnect(store(args), args.network, args.container, args.force)
    except FreightError as err:
        return _fail(err)
    return 0
