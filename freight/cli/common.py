"""Helpers the command modules share: Docker's loop over several containers (or volumes),
its flag values (booleans, integers, ``-e``/``--env-file``), its usage errors and its
prune prompt."""

from __future__ import annotations

import argparse
import os
import sys

from freight.errors import FreightError, InvalidArgument, NotFound

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def each(refs: list[str], action: Callable[[str], Any], show: Callable[[Any], object] | None = None,
         missing_ok: bool = False) -> int:
    """Docker's multi-container commands: act on each, print it (or ``show`` of the result),
    report failures on stderr; 1 if any failed (``missing_ok``: not for one that is not
    there, as ``rm -f`` forgives it)."""
    status = 0
    for ref in refs:
        try:
            result = action(ref)
            print(ref if show is None else show(result), flush=True)
        except FreightError as err:
            sys.stderr.write(f"Error response from daemon: {err}\n")
            if not (missing_ok and isinstance(err, NotFound)):
                status = 1
    return status


def add_stop_flags(p: argparse.ArgumentParser) -> None:
    """``stop``'s and ``restart``'s flags (``--time``: the old name Docker still takes)."""
    p.add_argument("-s", "--signal", help="Signal to send to the container")
    p.add_argument("-t", "--timeout", "--time", type=int, dest="time",
                   help="Seconds to wait before killing the container")


def flag_error(value: str, flag: str, reason: str) -> InvalidArgument:
    """Docker's usage error for a bad flag value."""
    return InvalidArgument(f'invalid argument "{value}" for "{flag}" flag: {reason}')


def parse_int(value: str | None, flag: str) -> int | None:
    """A flag's integer value (None when not given), refused as Go's strconv.ParseInt refuses it."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise flag_error(value, flag, f'strconv.ParseInt: parsing "{value}": invalid syntax') from None


def parse_bool(value: str) -> bool:
    """A flag's boolean value as Go's strconv.ParseBool reads it (the forms Docker's flags take)."""
    if value.lower() in ("1", "t", "true"):
        return True
    if value.lower() in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f'invalid argument "{value}": strconv.ParseBool: '
                                     f'parsing "{value}": invalid syntax')


def env_from_flags(args: argparse.Namespace) -> list[str]:
    """``-e`` and ``--env-file`` as Docker's client reads them (``KEY`` alone takes our value)."""
    env = []
    for path in args.env_file:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError as err:
            raise InvalidArgument(f"open {path}: {(err.strerror or str(err)).lower()}") from None
        env += [line.lstrip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    env += args.env
    out = []
    for item in env:
        key, sep, _ = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid environment variable: {item}")
        if sep:
            out.append(item)
        elif key in os.environ:
            out.append(f"{key}={os.environ[key]}")
    return out


def usage_error(args: argparse.Namespace, err: InvalidArgument) -> int:
    """Print Docker's two-line usage error for a bad flag value; its exit status."""
    sys.stderr.write(f"freight: {err}\nSee 'freight {args.func.__name__[4:]} --help'.\n")
    return 125


def confirm(warning: str) -> bool:
    """Docker's prune prompt; in a pipe with no answer, the answer is no."""
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def detach_keys(value: str | None) -> bytes:
    """``--detach-keys`` in Docker's syntax ("ctrl-p,ctrl-q" when not given) as the bytes typed."""
    from freight.runtime.channel import DEFAULT_DETACH_KEYS, parse_detach_keys  # only commands that attach

    try:
        return parse_detach_keys(value if value is not None else DEFAULT_DETACH_KEYS)
    except ValueError as err:
        raise InvalidArgument(f"Invalid detach keys ({value}) provided: {err}") from None
