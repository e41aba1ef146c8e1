"""``freight image diff IMAGE1 IMAGE2``: how two images differ (``freight.store.imagediff``).

Docker's top-level ``diff`` stays the command for a container's changes; this one compares
images, each a local image, an archive (``oci:DIR``, ``oci-archive:FILE``,
``docker-archive:FILE``) or a registry reference (``freight.registry.imagesources``).
"""

from __future__ import annotations

import argparse
import json
import sys

from freight.cli.main import Subcommands, store
from freight.image import platform as platforms
from freight.registry.imagesources import open_image
from freight.store.imagediff import diff_images


def register(sub: Subcommands) -> None:
    p = sub.add("diff", cmd_image_diff, help="Show how two images differ: config fields, then files layer by layer")
    p.add_argument("--format", choices=["text", "json"], default="text", help="Output as readable text or JSON")
    p.add_argument("--platform", help="the platform (os/arch[/variant]) to take from a multi-platform image")
    p.add_argument("--exit-code", action="store_true", help="Exit with 1 when the images differ, 0 when not")
    p.add_argument("old", metavar="IMAGE1")
    p.add_argument("new", metavar="IMAGE2")


def cmd_image_diff(args: argparse.Namespace) -> int:
    st = store(args)
    wanted = platforms.resolve(args.platform)
    with open_image(st, args.old, wanted) as old, open_image(st, args.new, wanted) as new:
        result = diff_images(old, new)
    if args.format == "json":
        json.dump(result.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("".join(line + "\n" for line in result.lines()))
    return 1 if args.exit_code and not result.same else 0
