"""``freight events``: the store's event log (``freight.store.events``), as ``docker events``
shows the daemon's: past events with ``--since``, then new ones as they come until ``--until``
(or Ctrl-C)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from freight.cli.format import Template
from freight.cli.main import Subcommands, store
from freight.runtime.events import watch
from freight.store import events

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Mapping


def register(sub: Subcommands) -> None:
    p = sub.add("events", cmd_events, help="Get real time events from the server")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("--since", help="Show all events created since timestamp")
    p.add_argument("--until", help="Stream events until this timestamp")


def event_line(e: Mapping[str, object]) -> str:
    """Docker's default line: time, type, action, actor and its attributes sorted."""
    stamp = int(str(e.get("timeNano", 0)))
    seconds, nanos = divmod(stamp, 1_000_000_000)
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"
    actor = e.get("Actor")
    actor = actor if isinstance(actor, dict) else {}
    attrs = actor.get("Attributes") or {}
    shown = f" ({', '.join(f'{k}={attrs[k]}' for k in sorted(attrs))})" if attrs else ""
    return f"{when} {e.get('Type')} {e.get('Action')} {actor.get('ID', '')}{shown}"


def _template_data(e: Mapping[str, object]) -> dict[str, object]:
    """The event with the Go field names Docker's templates use beside the JSON ones."""
    return {**e, "Status": e.get("status", ""), "ID": e.get("id", ""), "From": e.get("from", ""),
            "Time": e.get("time"), "TimeNano": e.get("timeNano"), "Scope": e.get("scope")}


def cmd_events(args: argparse.Namespace) -> int:
    filters = events.parse_filters(args.filter)
    template = Template(args.format) if args.format and args.format.strip() != "{{json .}}" else None
    try:
        for e in watch(store(args), args.since, args.until, filters):
            if template is not None:
                sys.stdout.write(template.render(_template_data(e)) + "\n")
            elif args.format:
                sys.stdout.write(json.dumps(e, separators=(",", ":")) + "\n")
            else:
                sys.stdout.write(event_line(e) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    return 0
