"""``freight update``: new resource limits for containers, running or not (``runtime.update``)."""

from __future__ import annotations

import argparse
import sys

from freight.cli.common import each, parse_int
from freight.cli.main import Subcommands, store
from freight.cli.resources import add_resource_flags, memory_and_cpus
from freight.errors import InvalidArgument
from freight.runtime.update import update

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any


def register(sub: Subcommands) -> None:
    p = sub.add("update", cmd_update, help="Update configuration of one or more containers")
    add_resource_flags(p)
    p.add_argument("--cpu-period", help="Limit CPU CFS (Completely Fair Scheduler) period")
    p.add_argument("--cpu-quota", help="Limit CPU CFS (Completely Fair Scheduler) quota")
    p.add_argument("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)")
    p.add_argument("--restart", help="Restart policy to apply when a container exits")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def _restart_policy(text: str) -> dict[str, Any]:
    name, _, count = text.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure") or (count and name != "on-failure"):
        raise InvalidArgument(f"invalid restart policy format: {text}" if count else f"invalid restart policy {name}")
    return {"Name": name, "MaximumRetryCount": parse_int(count, "--restart") or 0}


def changes_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The HostConfig values the flags set."""
    changes = memory_and_cpus(args)
    for flag, key in (("cpu_shares", "CpuShares"), ("cpu_period", "CpuPeriod"), ("cpu_quota", "CpuQuota")):
        value = getattr(args, flag)
        if value is not None:
            changes[key] = parse_int(value, "--" + flag.replace("_", "-"))
    if args.cpuset_mems:
        changes["CpusetMems"] = args.cpuset_mems
    if args.restart:
        changes["RestartPolicy"] = _restart_policy(args.restart)
    return changes


def cmd_update(args: argparse.Namespace) -> int:
    changes = changes_from_args(args)
    if not changes:
        sys.stderr.write("you must provide one or more flags when using this command\n")
        return 1
    st = store(args)
    return each(args.containers, lambda ref: update(st, ref, changes))
