"""``exec``: run a command in a running container."""

from __future__ import annotations

import argparse
import sys

from freight.cli.common import detach_keys, env_from_flags, usage_error
from freight.cli.main import Subcommands, store
from freight.errors import InvalidArgument
from freight.runtime import execute
from freight.runtime.childio import Attach


def register(sub: Subcommands) -> None:
    p = sub.add("exec", cmd_exec, help="Execute a command in a running container")
    p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="Read in a file of environment variables")
    p.add_argument("-u", "--user", default="", help="Username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("-w", "--workdir", default="", help="Working directory inside the container")
    p.add_argument("--privileged", action="store_true", help="Give extended privileges to the command")
    p.add_argument("-d", "--detach", action="store_true", help="Detached mode: run command in the background")
    p.add_argument("--detach-keys", help="Override the key sequence for detaching a container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]").required = False


def cmd_exec(args: argparse.Namespace) -> int:
    try:
        env = env_from_flags(args)
        keys = detach_keys(args.detach_keys)
    except InvalidArgument as err:
        return usage_error(args, err)
    if not args.command:
        sys.stderr.write("freight: 'exec' requires at least 2 arguments.\nSee 'freight exec --help'.\n")
        return 125
    if args.detach:
        execute.exec_detached(store(args), args.container, list(args.command), env=env, user=args.user,
                              workdir=args.workdir, privileged=args.privileged)
        return 0
    attach = Attach(stdin=0 if args.interactive else None, detach_keys=keys)
    return execute.exec_attached(store(args), args.container, list(args.command), attach, env=env, user=args.user,
                                 workdir=args.workdir, tty=args.tty, interactive=args.interactive,
                                 privileged=args.privileged)
