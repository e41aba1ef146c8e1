"""``freight build``: a thin wrapper over freight.builder."""

from __future__ import annotations

import argparse
import os
import sys

from freight.cli.main import store
from freight.errors import InvalidArgument

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.builder.state import BuildOptions, BuildResult
    from freight.cli.main import Subcommands


def register(sub: Subcommands) -> None:
    p = sub.add("build", _build, help="Build an image from a Dockerfile")
    p.add_argument("context", metavar="PATH | URL | -")
    p.add_argument("-t", "--tag", action="append", default=[], help="name and optionally a tag (name:tag)")
    p.add_argument("-f", "--file", help="name of the Dockerfile (default: PATH/Dockerfile)")
    p.add_argument("--build-arg", action="append", default=[], help="set build-time variables")
    p.add_argument("--target", default="", help="set the target build stage to build")
    p.add_argument("--no-cache", action="store_true", help="do not use cache when building the image")
    p.add_argument("--pull", action="store_true", help="always attempt to pull a newer version of the image")
    p.add_argument("--label", action="append", default=[], help="set metadata for an image")
    p.add_argument("--platform", default="", help="set platform (linux/amd64)")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the build output and print image ID")
    p.add_argument("--iidfile", help="write the image ID to the file")
    p.add_argument("--progress", default="auto", choices=["auto", "plain", "tty", "quiet"],
                   help="type of progress output")
    p.add_argument("--network", default="default", choices=["default", "host", "none"],
                   help="networking mode for the RUN instructions")
    p.add_argument("--secret", action="append", default=[], help="secret to expose: id=mysecret[,src=/local/secret]")
    p.add_argument("--cache-from", action="append", default=[], help="images to consider as cache sources")
    p.add_argument("--timestamp", default="", metavar="now|SECONDS",
                   help="time of the image and its new files: 'now' for the wall clock, or seconds since the "
                        "epoch (default: SOURCE_DATE_EPOCH, else the newest base image's time)")
    p.add_argument("--locked", action="store_true",
                   help="fail unless the Dockerfile's lock file holds every image and URL it names, "
                        "as the registries resolve them now")
    p.add_argument("--check", action="store_true",
                   help="build again without any cache in separate state and fail, showing what differs, "
                        "unless both give the same image")
    p.add_argument("-o", "--output", action="append", default=[],
                   help="output destination (type=docker|oci|tar|local,dest=...)")


def _csv(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        out[key.strip()] = value if eq else ""
    return out


def build_args(items: list[str]) -> dict[str, str]:
    args: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if eq:
            args[key] = value
        elif key in os.environ:
            args[key] = os.environ[key]
    return args


def _secrets(items: list[str]) -> dict[str, dict[str, str]]:
    secrets: dict[str, dict[str, str]] = {}
    for item in items:
        fields = _csv(item)
        ident = fields.get("id")
        if not ident:
            raise InvalidArgument(f"invalid secret {item!r}: id is required")
        if "src" in fields or "source" in fields:
            secrets[ident] = {"src": fields.get("src") or fields["source"]}
        else:
            secrets[ident] = {"env": fields.get("env", ident)}
    return secrets


def _outputs(items: list[str]) -> list[dict[str, str]]:
    outs = []
    for item in items:
        fields = _csv(item) if "=" in item else {"type": "local", "dest": item}
        if fields.get("type") not in ("docker", "image", "oci", "tar", "local"):
            raise InvalidArgument(f"unsupported output type {fields.get('type')!r}")
        outs.append(fields)
    return outs


def _check(args: argparse.Namespace, opts: BuildOptions, result: BuildResult) -> bool:
    """``--check``: whether a second build without cache, in separate state, gives the same image."""
    from freight.builder.check import check
    from freight.builder.engine import error_report
    from freight.builder.state import BuildError

    sys.stderr.write("checking: building again without cache, in separate state\n")
    try:
        outcome = check(store(args), opts, result)
    except BuildError as err:
        sys.stderr.write(error_report(err))
        return False
    if outcome.same:
        sys.stderr.write(f"check: reproducible: both builds give {outcome.first}\n")
        return True
    sys.stderr.write(f"check: not reproducible: {outcome.first} != {outcome.second}\n")
    sys.stderr.write("".join(line + "\n" for line in outcome.differences))
    return False


def _build(args: argparse.Namespace) -> int:
    # The image group registers ``image build`` from this module, so ``freight image ls``
    # imports it too: the engine is imported when a build runs.
    from freight.builder.engine import build, error_report
    from freight.builder.state import BuildError, BuildOptions

    opts = BuildOptions(
        context=args.context, dockerfile=args.file, tags=args.tag, build_args=build_args(args.build_arg),
        target=args.target, no_cache=args.no_cache, pull=args.pull,
        labels=dict(item.partition("=")[::2] for item in args.label), platform=args.platform,
        progress="quiet" if args.quiet else args.progress, network=args.network,
        secrets=_secrets(args.secret), cache_from=args.cache_from, outputs=_outputs(args.output),
        timestamp=args.timestamp, locked=args.locked,
        stdin=sys.stdin.buffer if args.context == "-" or args.file == "-" else None)
    try:
        result = build(store(args), opts)
    except BuildError as err:
        sys.stderr.write(error_report(err))
        return 1
    if args.check and not _check(args, opts, result):
        return 1
    if args.iidfile:
        with open(args.iidfile, "w") as f:
            f.write(result.image_id)
    if args.quiet:
        print(result.image_id)
    return 0
