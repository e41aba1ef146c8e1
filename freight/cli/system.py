"""``freight system``: prune, df, check."""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from freight.cli.common import confirm
from freight.cli.format import FORMAT_HELP, Row, Template, human_size, render_table
from freight.cli.main import Subcommands, store
from freight.errors import FreightError
from freight.runtime.prune import parse_filter_lists
from freight.store import scratch
from freight.store.check import check
from freight.store.diskusage import du
from freight.store.store import Store
from freight.system import disk_usage, prune_system


def register(sub: Subcommands) -> None:
    system = sub.group("system", help="Manage freight")
    p = system.add("prune", cmd_prune, help="Remove unused data")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--volumes", action="store_true", help="Prune anonymous volumes")
    p.add_argument("--filter", action="append", default=[], help='Provide filter values (e.g. "label=<key>=<value>")')
    p = system.add("df", cmd_df, help="Show freight disk usage")
    p.add_argument("--format", help=FORMAT_HELP)
    p.add_argument("-v", "--verbose", action="store_true", help="Show detailed information on space usage")
    system.add("check", cmd_check, help="Verify every blob digest and every reference in the store")
    p = system.add("service", cmd_service, help="Serve the Docker Engine API (for docker, docker-py, compose)")
    p.add_argument("--socket", help="the unix socket to listen on (default freight.sock in the runtime directory: "
                                    "/run/freight as root, $XDG_RUNTIME_DIR/freight otherwise)")
    p.add_argument("-t", "--timeout", type=float, default=5.0,
                   help="exit after this many idle seconds (0: never)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="also listen on TCP, with TLS client verification")
    p.add_argument("--tlscert", help="the service's TLS certificate (with --tcp)")
    p.add_argument("--tlskey", help="the service's TLS key (with --tcp)")
    p.add_argument("--tlscacert", help="the CA that client certificates must be signed by (with --tcp)")
    if system.wanted in (None, "info", "events"):  # Docker's ``system info`` and ``system events``
        import_module("freight.cli.version").register(system.only(["info"]))
        import_module("freight.cli.events").register(system)
    system.add("boot", cmd_boot, help="Start the containers whose restart policy is always or unless-stopped "
               "(at boot)")


def _prune_warning(args: argparse.Namespace) -> str:
    items = ["all stopped containers", "all networks not used by at least one container"]
    if args.volumes:
        items.append("all anonymous volumes not used by at least one container")
    items.append("all images without at least one container associated to them" if args.all
                 else "all dangling images")
    items.append("all build cache" if args.all else "unused build cache")
    return "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)


def cmd_prune(args: argparse.Namespace) -> int:
    filters = parse_filter_lists(args.filter, ("until", "label", "label!"))
    if not args.force and not confirm(_prune_warning(args)):
        return 0
    report = prune_system(store(args), all_unused=args.all, volumes=args.volumes, filters=filters)
    for title, items in (("Deleted Containers", report.containers), ("Deleted Networks", report.networks),
                         ("Deleted Volumes", report.volumes)):
        if items:
            print(f"{title}:\n" + "".join(f"{i}\n" for i in items))
    if report.images:
        print("Deleted Images:\n" + "".join(f"{kind.lower()}: {what}\n" for kind, what in report.images))
    if report.build_cache:
        print("Deleted build cache objects:\n" + "".join(f"{i}\n" for i in report.build_cache))
    print(f"Total reclaimed space: {human_size(report.reclaimed)}")
    return 0


_DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
               "Reclaimable": "RECLAIMABLE"}


def cmd_df(args: argparse.Namespace) -> int:
    rows = []
    for usage in disk_usage(store(args)):
        share = f" ({usage.reclaimable * 100 // usage.size}%)" if usage.size and usage.kind != "Build Cache" else ""
        rows.append(Row({"Active": str(usage.active), "Reclaimable": human_size(usage.reclaimable) + share,
                         "Size": human_size(usage.size), "TotalCount": str(usage.total), "Type": usage.kind}))
    if args.format:
        Template(args.format, _DF_HEADERS).write(rows)
    else:
        render_table([list(_DF_HEADERS.values())] + [[str(row[key]) for key in _DF_HEADERS] for row in rows])
    return 0


def cmd_service(args: argparse.Namespace) -> int:
    from freight.api.server import serve  # the service: only this command loads it

    serve(args.root, args.socket, args.timeout, args.tcp, (args.tlscert, args.tlskey, args.tlscacert))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    st = store(args)
    problems = check(st)
    for problem in problems:
        sys.stderr.write(f"{problem}\n")
    _report_temporaries(st)
    if problems:
        raise FreightError(f"store check found {len(problems)} problem(s)")
    print("store is consistent")
    return 0


def _report_temporaries(st: Store) -> None:
    """Temporary data is no inconsistency, but ``check`` names it: a running writer's, and
    what killed ones left (which the next writing command removes)."""
    for entry in scratch.entries(st.root_path):
        whose = "held by a running writer" if entry.owned else "left by a killed writer"
        print(f"temporary data {whose}: {entry.path} ({human_size(du(entry.path))})")


def cmd_boot(args: argparse.Namespace) -> int:
    from freight.runtime.boot import boot  # the monitor's modules: only this subcommand needs them

    started, failed = boot(store(args))
    for cid in started:
        print(cid)
    for cid, error in failed:
        print(f"Error response from daemon: cannot start container {cid}: {error}", file=sys.stderr)
    return 1 if failed else 0
