"""``freight login`` and ``freight logout``: registry credentials, kept where the docker
CLI keeps them (``freight.registry.auth``); exit 1 on any failure, as the docker CLI does."""

from __future__ import annotations

import argparse
import getpass
import sys

from freight.cli.main import Subcommands
from freight.errors import InvalidArgument
from freight.registry.auth import Credentials, config_path, erase_credentials, host_of, store_credentials
from freight.registry.client import Registry


def register(sub: Subcommands) -> None:
    login = sub.add("login", cmd_login, help="Log in to a registry")
    login.add_argument("-u", "--username", help="username")
    login.add_argument("-p", "--password", help="password")
    login.add_argument("--password-stdin", action="store_true", help="take the password from stdin")
    login.add_argument("server", nargs="?", default="docker.io", metavar="SERVER")
    logout = sub.add("logout", cmd_logout, help="Log out from a registry")
    logout.add_argument("server", nargs="?", default="docker.io", metavar="SERVER")


_UNENCRYPTED = """
WARNING! Your credentials are stored unencrypted in '{}'.
Configure a credential helper to remove this warning. See
https://docs.docker.com/go/credential-store/

"""


def cmd_login(args: argparse.Namespace) -> int:
    host = host_of(args.server)
    if args.username is not None and not args.username.strip():
        sys.stderr.write("username is empty\n")  # Docker's words, before anything else
        return 1
    password = args.password
    if args.password_stdin:
        if args.password or not args.username:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive" if args.password
                                  else "Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif args.password:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    username = args.username or input("Username: ")
    if not username.strip():
        sys.stderr.write("username is empty\n")
        return 1
    if password is None:
        password = getpass.getpass("Password: ")
    if not username or not password:
        raise InvalidArgument("Error: Non-null Username and Password Required")
    creds = Credentials(username, password)
    with Registry(host, creds) as registry:
        registry.check_login()
    if not store_credentials(host, creds):
        sys.stderr.write(_UNENCRYPTED.format(config_path()))
    print("Login Succeeded")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    host = host_of(args.server)
    if not erase_credentials(host):
        print(f"Not logged in to {host}")
        return 0
    print(f"Removing login credentials for {host}")
    return 0
