"""Stopping and removing containers, and attaching to them: ``stop``, ``kill``, ``wait``,
``rm``, ``attach``, ``container prune``."""

from __future__ import annotations

import argparse

from freight.cli.common import add_stop_flags, confirm, detach_keys, each, parse_bool
from freight.cli.format import human_size
from freight.cli.main import Subcommands, store
from freight.runtime import lifecycle
from freight.runtime.attach import attach
from freight.runtime.prune import parse_filter_lists, prune_containers
from freight.runtime.signals import parse_signal


def register(sub: Subcommands) -> None:
    p = sub.add("stop", cmd_stop, help="Stop one or more running containers")
    add_stop_flags(p)
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p = sub.add("kill", cmd_kill, help="Kill one or more running containers")
    p.add_argument("-s", "--signal", default="KILL", help="Signal to send to the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p = sub.add("wait", cmd_wait, help="Block until one or more containers stop, then print their exit codes")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p = sub.add("rm", cmd_rm, help="Remove one or more containers")
    p.add_argument("-f", "--force", action="store_true", help="Force the removal of a running container")
    p.add_argument("-v", "--volumes", action="store_true", help="Remove anonymous volumes of the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p = sub.add("attach", cmd_attach,
                help="Attach local standard input, output, and error streams to a running container")
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    p.add_argument("--sig-proxy", type=parse_bool, nargs="?", const=True, default=True,
                   help="Proxy all received signals to the process")
    p.add_argument("--detach-keys", help="Override the key sequence for detaching a container")
    p.add_argument("container", metavar="CONTAINER")


def register_prune(group: Subcommands) -> None:
    """``container prune``, for the ``container`` group."""
    p = group.add("prune", cmd_container_prune, help="Remove all stopped containers")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help='Provide filter values (e.g. "until=<timestamp>")')


def cmd_stop(args: argparse.Namespace) -> int:
    st = store(args)
    return each(args.containers, lambda ref: lifecycle.stop(st, ref, args.time, args.signal))


def cmd_kill(args: argparse.Namespace) -> int:
    st = store(args)
    parse_signal(args.signal)
    return each(args.containers, lambda ref: lifecycle.kill(st, ref, args.signal))


def cmd_wait(args: argparse.Namespace) -> int:
    st = store(args)
    return each(args.containers, lambda ref: lifecycle.wait(st, ref), show=str)


def cmd_rm(args: argparse.Namespace) -> int:
    st = store(args)
    return each(args.containers, lambda ref: lifecycle.remove(st, ref, args.force, args.volumes),
                missing_ok=args.force)


def cmd_attach(args: argparse.Namespace) -> int:
    return attach(store(args), args.container, stdin=None if args.no_stdin else 0, sig_proxy=args.sig_proxy,
                  detach_keys=detach_keys(args.detach_keys))


def cmd_container_prune(args: argparse.Namespace) -> int:
    filters = parse_filter_lists(args.filter, ("until", "label", "label!"))
    if not args.force and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    removed, reclaimed = prune_containers(store(args), filters)
    if removed:
        print("Deleted Containers:\n" + "".join(f"{cid}\n" for cid in removed))
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0
