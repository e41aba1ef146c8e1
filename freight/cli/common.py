"""Helpers the command modules share: Docker's loop over several containers (or volumes),
and its boolean flag values."""

from __future__ import annotations

import argparse
import sys

from freight.errors import FreightError, InvalidArgument

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def each(refs: list[str], action: Callable[[str], Any], show: Callable[[Any], object] | None = None) -> int:
    """Docker's multi-container commands: act on each, print it (or ``show`` of the result),
    report failures on stderr; 1 if any failed."""
    status = 0
    for ref in refs:
        try:
            result = action(ref)
            print(ref if show is None else show(result), flush=True)
        except FreightError as err:
            sys.stderr.write(f"Error response from daemon: {err}\n")
            status = 1
    return status


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
