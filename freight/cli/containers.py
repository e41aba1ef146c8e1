"""Reading containers: ``ps`` and ``logs``.

These only read the store's records and the json-file logs (``freight.runtime.containers``),
so they start as fast as ``images``.
"""

from __future__ import annotations

import argparse
import sys

from freight.cli.common import parse_int
from freight.cli.format import FORMAT_HELP, Row, Template, docker_time, human_size, render_table, since
from freight.cli.main import Subcommands, store
from freight.runtime import containers, logs
from freight.runtime.filters import parse_filters, select, shows_stopped
from freight.runtime.times import parse_time

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.runtime.records import Container
    from freight.store import Store


def register(sub: Subcommands) -> None:
    p = sub.add("ps", cmd_ps, help="List containers")
    p.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="Filter output based on conditions provided")
    p.add_argument("--format", help=FORMAT_HELP)
    p.add_argument("-n", "--last", type=int, default=-1,
                   help="Show n last created containers (includes all states) (default -1)")
    p.add_argument("-l", "--latest", action="store_true",
                   help="Show the latest created container (includes all states)")
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
    p = sub.add("logs", cmd_logs, help="Fetch the logs of a container")
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("-n", "--tail", default="all", help='Number of lines to show from the end of the logs')
    p.add_argument("--since", help="Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)")
    p.add_argument("--until", help="Show logs before a timestamp or relative time")
    p.add_argument("--details", action="store_true", help="Show extra details provided to logs")
    p.add_argument("container", metavar="CONTAINER")


_PS_COLUMNS = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"]
_PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED",
               "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES", "Size": "SIZE"}


def _ports_text(ports: dict[str, Any]) -> str:
    out = []
    for key, bindings in (ports or {}).items():
        if not bindings:
            out.append(key)
        for b in bindings or []:
            out.append(f"{b['HostIp']}:{b['HostPort']}->{key}")
    return ", ".join(out)


def command_text(path: str, args: list[str]) -> str:
    """The daemon's ``Command`` of a container: arguments with a space in single quotes."""
    return " ".join([path, *(f"'{a}'" if " " in a else a for a in args)])


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: double quotes, with quotes, backslashes and control bytes escaped."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v"}


def ps_row(c: Container, no_trunc: bool = False, st: Store | None = None) -> Row:
    """One ``docker ps`` row (the template fields Docker offers); with ``st``, Size filled in."""
    command = command_text(c.record["Path"], c.record["Args"])
    if not no_trunc and len(command) > 20:
        command = command[:19] + "\u2026"
    mounts = c.record.get("Mounts") or []
    network = c.host_config.get("NetworkMode") or "default"
    return Row({
        "Command": go_quote(command), "CreatedAt": docker_time(c.record["Created"]),
        "ID": c.id if no_trunc else c.id[:12], "Image": c.config.get("Image", ""),
        "Labels": ",".join(f"{k}={v}" for k, v in (c.config.get("Labels") or {}).items()),
        "LocalVolumes": str(sum(1 for m in mounts if m.get("Type") == "volume")),
        "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in mounts),
        "Names": c.name, "Networks": "bridge" if network == "default" else network, "Platform": None,
        "Ports": _ports_text(c.record.get("NetworkSettings", {}).get("Ports") or {}),
        "RunningFor": since(c.record["Created"]), "Size": _size_text(st, c) if st else "0B",
        "State": c.state["Status"], "Status": containers.status_text(c.state),
    })


def _size_text(st: Store, c: Container) -> str:
    """``0B (virtual 1.99MB)``: the container's own files, and with its image's."""
    from freight.runtime.prune import container_size  # only a listing that shows sizes walks the trees

    own = container_size(st, c)
    image = st.images.get(c.image_id)
    return f"{human_size(own)} (virtual {human_size(own + (image.size if image else 0))})"


def cmd_ps(args: argparse.Namespace) -> int:
    st = store(args)
    filters = parse_filters(args.filter)
    last = 1 if args.latest else args.last  # the newest ``last`` of every state
    found = containers.list_containers(st, all=args.all or last > 0 or shows_stopped(filters))
    found = select(found, filters, lambda ref: containers.get(st, ref))[:last if last > 0 else None]
    sized = args.size or bool(args.format) and (".Size" in args.format or "json ." in args.format)  # as Docker's CLI
    rows = [ps_row(c, args.no_trunc, st if sized else None) for c in found]
    if args.quiet:
        for row in rows:
            print(row["ID"])
    elif args.format:
        Template(args.format, _PS_HEADERS).write(rows)
    else:
        columns = [*_PS_COLUMNS, "Size"] if args.size else _PS_COLUMNS
        render_table([[_PS_HEADERS[c] for c in columns]] + [[str(r[c]) for c in columns] for r in rows])
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    st = store(args)
    c = containers.get(st, args.container)
    tail = None if args.tail == "all" else parse_int(args.tail, "-n, --tail") or 0
    since, until = _log_window(args) or (0.0, float("inf"))
    for record in logs.records(st, c, tail, since, until, follow=args.follow):
        text = (f"{record['time']} " if args.timestamps else "") + (_details(record) if args.details else "") \
            + record["log"]
        stream = sys.stderr if record.get("stream") == "stderr" else sys.stdout
        stream.write(text)
        stream.flush()
    return 0


def _details(record: dict[str, Any]) -> str:
    """``--details``: the line's attributes (the log options' labels and env) and a blank."""
    return ",".join(f"{k}={v}" for k, v in sorted((record.get("attrs") or {}).items())) + " "


def _log_window(args: argparse.Namespace) -> tuple[float, float] | None:
    """``--since``/``--until`` as Unix times, or None when neither is given."""
    if not (args.since or args.until):
        return None
    return (parse_time(args.since) if args.since else 0.0,
            parse_time(args.until) if args.until else float("inf"))
