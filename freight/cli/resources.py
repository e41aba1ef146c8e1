"""The resource flags ``run``, ``create`` and ``update`` share, read into HostConfig values."""

from __future__ import annotations

import argparse

from freight.cli.common import parse_int
from freight.runtime.limits import parse_cpus, parse_memory, parse_memory_swap

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any


def add_resource_flags(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("-m", "--memory", help="Memory limit")
    a("--memory-swap", help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    a("--memory-reservation", help="Memory soft limit")
    a("--cpus", help="Number of CPUs")
    a("-c", "--cpu-shares", help="CPU shares (relative weight)")
    a("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    a("--pids-limit", help="Tune container pids limit (set -1 for unlimited)")


def memory_and_cpus(args: argparse.Namespace) -> dict[str, Any]:
    """``-m``, ``--memory-swap``, ``--memory-reservation``, ``--cpus``, ``--cpuset-cpus`` and
    ``--pids-limit``, where given."""
    host: dict[str, Any] = {}
    if args.memory:
        host["Memory"] = parse_memory(args.memory, "-m, --memory")
    if args.memory_swap:
        host["MemorySwap"] = parse_memory_swap(args.memory_swap)
    if args.memory_reservation:
        host["MemoryReservation"] = parse_memory(args.memory_reservation, "--memory-reservation")
    if args.cpus:
        host["NanoCpus"] = round(parse_cpus(args.cpus) * 1e9)
    if args.cpuset_cpus:
        host["CpusetCpus"] = args.cpuset_cpus
    if args.pids_limit:
        host["PidsLimit"] = parse_int(args.pids_limit, "--pids-limit")
    return host
