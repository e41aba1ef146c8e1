"""What running containers run, use and publish: ``top``, ``stats`` and ``port``."""

from __future__ import annotations

import argparse
import io
import sys

from freight.cli.format import Template, bytes_size, human_size, render_table
from freight.cli.main import Subcommands, store
from freight.errors import FreightError, InvalidArgument
from freight.runtime import containers
from freight.runtime.ports import PortBinding
from freight.runtime.ports import port_lines as lines_of
from freight.runtime.stats import Sample, sample
from freight.runtime.top import top

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any


def register(sub: Subcommands) -> None:
    p = sub.add("top", cmd_top, help="Display the running processes of a container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="[ps OPTIONS]")
    p = sub.add("stats", cmd_stats, help="Display a live stream of container(s) resource usage statistics")
    p.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    p.add_argument("--no-stream", action="store_true", help="Disable streaming stats and only pull the first result")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")
    p = sub.add("port", cmd_port, help="List port mappings or a specific mapping for the container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("private_port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")


def cmd_top(args: argparse.Namespace) -> int:
    titles, rows = top(store(args), args.container, list(args.ps_args))
    render_table([titles, *rows])
    return 0


_STATS_HEADERS = {"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
                  "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
                  "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}
_STATS_FORMAT = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
                 "\t{{.BlockIO}}\t{{.PIDs}}")


def stats_row(s: Sample, ref: str, no_trunc: bool) -> dict[str, str]:
    mem_perc = s.memory_usage * 100.0 / s.memory_limit if s.memory_limit else 0.0
    return {"ID": s.id if no_trunc else s.id[:12], "Container": ref, "Name": s.name,
            "CPUPerc": f"{s.cpu_percent:.2f}%", "MemPerc": f"{mem_perc:.2f}%",
            "MemUsage": f"{bytes_size(s.memory_usage)} / {bytes_size(s.memory_limit)}",
            "NetIO": f"{human_size(s.net_rx)} / {human_size(s.net_tx)}",
            "BlockIO": f"{human_size(s.block_read)} / {human_size(s.block_write)}", "PIDs": str(s.pids)}


def cmd_stats(args: argparse.Namespace) -> int:
    st = store(args)
    template = Template(args.format or _STATS_FORMAT, _STATS_HEADERS)
    while True:
        if args.containers:
            found = [containers.get(st, ref) for ref in args.containers]
            refs = list(args.containers)
        else:
            found = containers.list_containers(st, all=args.all)
            refs = [c.id[:12] for c in found]
        running = {c.id for c in found if c.running}
        samples = {s.id: s for s in sample([c for c in found if c.running], 0.5 if args.no_stream else 1.0)}
        rows = []
        for c, ref in zip(found, refs):
            s = samples.get(c.id)
            if s is None:  # a stopped container: zeros, as docker stats shows it
                s = Sample(c.id, c.name, 0.0, 0, 0, 0, 0, 0, 0, 0)
            rows.append(stats_row(s, ref, args.no_trunc))
        out = io.StringIO()
        template.write(rows, out)
        if args.no_stream:
            sys.stdout.write(out.getvalue())
            return 0
        sys.stdout.write("\033[2J\033[H" + out.getvalue())
        sys.stdout.flush()
        if args.containers and not running:
            return 0


def port_lines(record: dict[str, Any], private: str | None) -> list[str]:
    """``docker port`` lines from a container's NetworkSettings.Ports (``80/tcp -> 0.0.0.0:8080``)."""
    bindings = []
    for key, entries in (record.get("NetworkSettings", {}).get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for entry in entries or []:
            bindings.append(PortBinding(int(port), proto or "tcp", entry.get("HostIp") or "",
                                        int(entry.get("HostPort") or 0)))
    if private is not None:
        port, _, proto = private.partition("/")
        if not port.isdigit():
            raise InvalidArgument(f"Invalid port: {private}")
        bindings = [b for b in bindings if b.key == f"{port}/{proto or 'tcp'}"]
    return lines_of(bindings)


def cmd_port(args: argparse.Namespace) -> int:
    c = containers.get(store(args), args.container)
    found = port_lines(c.record, args.private_port) if c.running else []
    if args.private_port and not found:
        port, _, proto = args.private_port.partition("/")
        raise FreightError(f"No public port '{port}/{proto or 'tcp'}' published for {args.container}")
    for line in found:
        print(line)
    return 0
