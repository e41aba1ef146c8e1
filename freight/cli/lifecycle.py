"""Container commands beyond the basics: ``restart``, ``attach``, ``top``, ``port``, ``cp``,
``stats``, and the ``container`` group (``docker container ls|run|...|prune``).

The ``container`` group reuses ``freight.cli.containers.register`` and
``freight.cli.inspect.register`` on the group, so every flag has one definition.
"""

from __future__ import annotations

import argparse
import sys

from freight.cli.main import Subcommands, store
from freight.errors import InvalidArgument

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from freight.cli.main import Handler


def register(sub: Subcommands) -> None:
    add_commands(sub)
    register_container_group(sub)


def add_commands(sub: Subcommands) -> None:
    p = sub.add("restart", cmd_restart, help="Restart one or more containers")
    p.add_argument("-t", "--time", "--timeout", type=int, dest="time", help="Seconds to wait before killing it")
    p.add_argument("-s", "--signal", help="Signal to send to the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p = sub.add("attach", cmd_attach,
                help="Attach local standard input, output, and error streams to a running container")
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    p.add_argument("--sig-proxy", type=_bool, nargs="?", const=True, default=True,
                   help="Proxy all received signals to the process")
    p.add_argument("container", metavar="CONTAINER")
    p = sub.add("top", cmd_top, help="Display the running processes of a container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="[ps OPTIONS]")
    p = sub.add("port", cmd_port, help="List port mappings or a specific mapping for the container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("private_port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
    p = sub.add("cp", cmd_cp, help="Copy files/folders between a container and the local filesystem")
    p.add_argument("-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output during copy")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dest", metavar="DEST")
    p = sub.add("stats", cmd_stats, help="Display a live stream of container(s) resource usage statistics")
    p.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    p.add_argument("--no-stream", action="store_true", help="Disable streaming stats and only pull the first result")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


class _WithAliases(Subcommands):
    """Adds aliases to some of another module's commands (``container ls`` for ``ps``)."""

    def __init__(self, inner: Subcommands, aliases: dict[str, tuple[str, ...]]) -> None:
        self._inner = inner
        self._aliases = aliases

    def add(self, name: str, handler: Handler, help: str, aliases: Sequence[str] = (),
            error_code: int = 1, **kwargs: Any) -> argparse.ArgumentParser:
        return self._inner.add(name, handler, help, (*aliases, *self._aliases.get(name, ())), error_code,
                               **kwargs)


def register_container_group(sub: Subcommands) -> None:
    from freight.cli import containers, inspect

    group = sub.group("container", help="Manage containers")
    containers.register(_WithAliases(group, {"ps": ("ls", "list")}))
    inspect.register(group, kind="container")
    add_commands(group)
    p = group.add("prune", cmd_container_prune, help="Remove all stopped containers")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help='Provide filter values (e.g. "until=<timestamp>")')


def _bool(value: str) -> bool:
    from freight.cli.containers import _bool as parse

    return parse(value)


# ---------------------------------------------------------------- handlers


def cmd_restart(args: argparse.Namespace) -> int:
    from freight.cli.containers import _each
    from freight.runtime import lifecycle, supervise

    st = store(args)

    def restart(ref: str) -> None:
        lifecycle.stop(st, ref, args.time, args.signal)
        supervise.start(st, ref)

    return _each(args.containers, restart)


def cmd_attach(args: argparse.Namespace) -> int:
    from freight.runtime.attach import attach

    return attach(store(args), args.container, stdin=None if args.no_stdin else 0, sig_proxy=args.sig_proxy)


def cmd_top(args: argparse.Namespace) -> int:
    from freight.cli.format import render_table
    from freight.runtime.top import top

    titles, rows = top(store(args), args.container, list(args.ps_args))
    render_table([titles, *rows])
    return 0


def port_lines(record: dict[str, Any], private: str | None) -> list[str]:
    """``docker port`` lines from a container's NetworkSettings.Ports (``80/tcp -> 0.0.0.0:8080``)."""
    from freight.runtime.ports import PortBinding
    from freight.runtime.ports import port_lines as lines

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
    return lines(bindings)


def cmd_port(args: argparse.Namespace) -> int:
    from freight.errors import NotFound
    from freight.runtime import containers

    c = containers.get(store(args), args.container)
    found = port_lines(c.record, args.private_port) if c.running else []
    if args.private_port and not found:
        port, _, proto = args.private_port.partition("/")
        raise NotFound(f"No public port '{port}/{proto or 'tcp'}' published for {args.container}")
    for line in found:
        print(line)
    return 0


def cmd_cp(args: argparse.Namespace) -> int:
    from freight.runtime import cp

    src_container, src = cp.split_target(args.src)
    dest_container, dest = cp.split_target(args.dest)
    if src_container and dest_container:
        raise InvalidArgument("copying between containers is not supported")
    if not (src_container or dest_container):
        raise InvalidArgument("must specify at least one container source")
    st = store(args)
    if src_container:
        cp.copy_out(st, src_container, src, dest, args.archive, args.follow_link,
                      stdout=sys.stdout.buffer)
    else:
        assert dest_container is not None
        cp.copy_in(st, dest_container, src, dest, args.archive, args.follow_link,
                     stdin=sys.stdin.buffer)
    if not args.quiet and "-" not in (src, dest) and sys.stderr.isatty():
        sys.stderr.write(f"Successfully copied to {args.dest}\n")
    return 0


_STATS_HEADERS = {"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
                  "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
                  "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}
_STATS_FORMAT = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
                 "\t{{.BlockIO}}\t{{.PIDs}}")


def stats_row(s: Any, ref: str, no_trunc: bool) -> dict[str, str]:
    from freight.cli.format import bytes_size, human_size

    mem_perc = s.memory_usage * 100.0 / s.memory_limit if s.memory_limit else 0.0
    return {"ID": s.id if no_trunc else s.id[:12], "Container": ref, "Name": s.name,
            "CPUPerc": f"{s.cpu_percent:.2f}%", "MemPerc": f"{mem_perc:.2f}%",
            "MemUsage": f"{bytes_size(s.memory_usage)} / {bytes_size(s.memory_limit)}",
            "NetIO": f"{human_size(s.net_rx)} / {human_size(s.net_tx)}",
            "BlockIO": f"{human_size(s.block_read)} / {human_size(s.block_write)}", "PIDs": str(s.pids)}


def cmd_stats(args: argparse.Namespace) -> int:
    import io

    from freight.cli.format import Template
    from freight.runtime import containers
    from freight.runtime.stats import Sample, sample

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


def cmd_container_prune(args: argparse.Namespace) -> int:
    from freight.cli.format import human_size
    from freight.cli.images import confirm
    from freight.runtime.prune import parse_filters, prune_containers

    filters = parse_filters(args.filter, ("until", "label"))
    if not args.force and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    removed, reclaimed = prune_containers(store(args), filters)
    if removed:
        print("Deleted Containers:\n" + "".join(f"{cid}\n" for cid in removed))
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0
