"""``freight history`` (and ``image history``): an image's history entries, newest first."""

from __future__ import annotations

import argparse

from freight.cli.format import Template, human_size, render_table, since
from freight.cli.main import Subcommands, store
from freight.store.inspect import image_history


def register(sub: Subcommands) -> None:
    p = sub.add("history", cmd_history, help="Show the history of an image")
    p.add_argument("-H", "--human", default="true", choices=["true", "false"],
                   help="Print sizes and dates in human readable format")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("image", metavar="IMAGE")


def cmd_history(args: argparse.Namespace) -> int:
    st = store(args)
    entries = image_history(st, st.resolve_image(args.image))
    human = args.human == "true"
    rows = []
    for e in entries:
        image_id = e["Id"] if args.no_trunc or e["Id"] == "<missing>" else e["Id"][7:19]
        created_by = e["CreatedBy"].replace("\t", " ")
        if not args.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        rows.append({"ID": image_id, "CreatedSince": since(e["Created"]) if human else e["Created"],
                     "CreatedAt": e["Created"], "CreatedBy": created_by,
                     "Size": human_size(e["Size"]) if human else str(e["Size"]),
                     "Comment": e["Comment"]})
    if args.quiet:
        print("\n".join(r["ID"] for r in rows))
    elif args.format:
        Template(args.format, {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedBy": "CREATED BY"}).write(rows)
    else:
        cols = ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"]
        render_table([["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]]
                     + [[r[c] for c in cols] for r in rows])
    return 0
