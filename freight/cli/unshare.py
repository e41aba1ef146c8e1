"""``freight unshare``: a command inside the user namespace rootless freight uses, as ``podman unshare``."""

from __future__ import annotations

import argparse
import os

from freight.cli.main import Subcommands
from freight.errors import CommandNotFound


def register(sub: Subcommands) -> None:
    p = sub.add("unshare", unshare, help="Run a command in the user namespace of rootless freight")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command (default: $SHELL)")


def unshare(args: argparse.Namespace) -> int:
    """Exec the command: main has already entered the namespace (nothing to do for root)."""
    command = args.command or [os.environ.get("SHELL") or "/bin/sh"]
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        raise CommandNotFound(f"{command[0]}: command not found") from None
