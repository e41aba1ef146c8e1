"""Reading containers: ``ps`` and ``logs``.

These only read the store's records and the json-file logs (``freight.runtime.containers``),
so they start as fast as ``images``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from freight.cli.common import parse_int
from freight.cli.format import Template, render_table, since
from freight.cli.main import Subcommands, store
from freight.errors import NotFound
from freight.runtime import containers
from freight.runtime.filters import parse_filters, select, shows_stopped
from freight.runtime.health import health_suffix
from freight.runtime.times import parse_time, record_time

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
    p.add_argument("--format", help="Format output using a custom template")
    p = sub.add("logs", cmd_logs, help="Fetch the logs of a container")
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("-n", "--tail", default="all", help='Number of lines to show from the end of the logs')
    p.add_argument("--since", help="Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)")
    p.add_argument("--until", help="Show logs before a timestamp or relative time")
    p.add_argument("container", metavar="CONTAINER")


_PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED",
               "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES"}


def _status(state: dict[str, Any]) -> str:
    if state.get("Running"):
        return "Up " + since(state["StartedAt"]).removesuffix(" ago") + health_suffix(state)
    if state.get("Restarting"):
        return f"Restarting ({state.get('ExitCode', 0)}) {since(state['FinishedAt'])}"
    if state.get("Status") == "exited":
        return f"Exited ({state.get('ExitCode', 0)}) {since(state['FinishedAt'])}"
    return "Created"


def _ports_text(ports: dict[str, Any]) -> str:
    out = []
    for key, bindings in (ports or {}).items():
        if not bindings:
            out.append(key)
        for b in bindings or []:
            out.append(f"{b['HostIp']}:{b['HostPort']}->{key}")
    return ", ".join(out)


def ps_row(c: Container, no_trunc: bool = False) -> dict[str, str]:
    """One ``docker ps`` row (the template fields Docker offers)."""
    command = " ".join([c.record["Path"], *c.record["Args"]])
    if not no_trunc and len(command) > 20:
        command = command[:19] + "\u2026"
    return {"ID": c.id if no_trunc else c.id[:12], "Image": c.config.get("Image", ""),
            "Command": f'"{command}"', "CreatedAt": c.record["Created"],
            "RunningFor": since(c.record["Created"]), "Status": _status(c.state), "State": c.state["Status"],
            "Ports": _ports_text(c.record.get("NetworkSettings", {}).get("Ports") or {}),
            "Names": c.name, "Labels": ",".join(f"{k}={v}" for k, v in (c.config.get("Labels") or {}).items())}


def cmd_ps(args: argparse.Namespace) -> int:
    st = store(args)
    filters = parse_filters(args.filter)
    found = containers.list_containers(st, all=args.all or shows_stopped(filters))
    found = select(found, filters, lambda ref: containers.get(st, ref))
    rows = [ps_row(c, args.no_trunc) for c in found]
    if args.quiet:
        for row in rows:
            print(row["ID"])
    elif args.format:
        Template(args.format, _PS_HEADERS).write(rows)
    else:
        render_table([list(_PS_HEADERS.values())] + [[r[c] for c in _PS_HEADERS] for r in rows])
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    st = store(args)
    c = containers.get(st, args.container)
    path = c.record["LogPath"]
    try:
        with open(path, "rb") as f:
            lines = f.readlines()
    except FileNotFoundError:
        lines = []
    if args.tail != "all":
        count = parse_int(args.tail, "-n, --tail") or 0
        lines = lines[-count:] if count > 0 else []
    offset = os.path.getsize(path) if os.path.exists(path) else 0
    window = _log_window(args)
    _write_log_lines(lines, args.timestamps, window)
    if args.follow:
        _follow(st, c.id, path, offset, args.timestamps, window)
    return 0


def _follow(st: Store, cid: str, path: str, offset: int, timestamps: bool,
            window: tuple[float, float] | None) -> None:
    """Print what the container logs from ``offset`` on, until it stops. The log stays open
    once found, so what an ``--rm`` container printed last is read after its removal."""
    log = None
    try:
        while True:
            if log is None and os.path.exists(path):
                log = open(path, "rb")  # kept open across the loop, closed below
                log.seek(offset)
            fresh = log.readlines() if log is not None else []
            _write_log_lines([line for line in fresh if line.endswith(b"\n")], timestamps, window)
            if not fresh and not _still_running(st, cid):
                if log is not None:
                    _write_log_lines(log.readlines(), timestamps, window)
                return
            time.sleep(0.1)
    finally:
        if log is not None:
            log.close()


def _log_window(args: argparse.Namespace) -> tuple[float, float] | None:
    """``--since``/``--until`` as Unix times, or None when neither is given."""
    if not (args.since or args.until):
        return None
    return (parse_time(args.since) if args.since else 0.0,
            parse_time(args.until) if args.until else float("inf"))


def _write_log_lines(lines: list[bytes], timestamps: bool, window: tuple[float, float] | None) -> None:
    for line in lines:
        record = json.loads(line)
        if window and not window[0] <= record_time(record["time"]) < window[1]:
            continue
        text = (f"{record['time']} " if timestamps else "") + record["log"]
        stream = sys.stderr if record.get("stream") == "stderr" else sys.stdout
        stream.write(text)
        stream.flush()


def _still_running(st: Store, cid: str) -> bool:
    """Whether the followed container runs (one its --rm monitor removed does not)."""
    try:
        return containers.get(st, cid).running
    except NotFound:
        return False
