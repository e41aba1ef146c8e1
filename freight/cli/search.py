"""``freight search``: repositories of a registry whose name holds a term (``registry.search``)."""

from __future__ import annotations

import argparse

from freight.cli.common import parse_int
from freight.cli.format import Template, render_table
from freight.cli.main import Subcommands
from freight.errors import InvalidArgument
from freight.registry.search import search

_HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL"}


def register(sub: Subcommands) -> None:
    p = sub.add("search", cmd_search, help="Search Docker Hub, or a registry's catalog, for images")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    p.add_argument("--format", help="Pretty-print search using a Go template")
    p.add_argument("--limit", default="25", help="Max number of search results")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("term", metavar="TERM")


def _keep(filters: list[str]) -> tuple[int, bool | None]:
    stars, official = 0, None
    for spec in filters:
        key, _, value = spec.partition("=")
        if key == "stars":
            stars = parse_int(value, "--filter stars") or 0
        elif key == "is-official":
            official = value.lower() in ("true", "1")
        else:
            raise InvalidArgument(f"invalid filter '{key}'")
    return stars, official


def cmd_search(args: argparse.Namespace) -> int:
    limit = parse_int(args.limit, "--limit")
    if limit is None or not 1 <= limit <= 100:
        raise InvalidArgument(f"limit {limit} is outside the range of [1, 100]")
    stars, official = _keep(args.filter)
    rows = []
    for r in search(args.term, limit):
        if r.get("star_count", 0) < stars or (official is not None and bool(r.get("is_official")) != official):
            continue
        description = str(r.get("description") or "")
        if not args.no_trunc and len(description) > 45:
            description = description[:44] + "\u2026"
        rows.append({"Name": r["name"], "Description": description, "StarCount": str(r.get("star_count", 0)),
                     "IsOfficial": "[OK]" if r.get("is_official") else "",
                     "IsAutomated": "[OK]" if r.get("is_automated") else ""})
    if args.format:
        Template(args.format, _HEADERS).write(rows)
    else:
        render_table([list(_HEADERS.values())] + [[r[k] for k in _HEADERS] for r in rows])
    return 0
