"""The health check flags of ``run`` and ``create`` (``--health-*``, ``--no-healthcheck``) as the
create request's ``Healthcheck``, checked as Docker's client checks them."""

from __future__ import annotations

from freight.errors import InvalidArgument

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import argparse
    from typing import Any

_DURATIONS = (("health_interval", "Interval"), ("health_timeout", "Timeout"),
              ("health_start_period", "StartPeriod"), ("health_start_interval", "StartInterval"))


def health_flags(args: argparse.Namespace) -> dict[str, Any] | None:
    """The Healthcheck the flags ask for; None when none is given (the image's applies)."""
    given = [args.health_cmd, args.health_retries, *(getattr(args, flag) for flag, _ in _DURATIONS)]
    if args.no_healthcheck:
        if any(v is not None for v in given):
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if all(v is None for v in given):
        return None
    check: dict[str, Any] = {"Test": ["CMD-SHELL", args.health_cmd]} if args.health_cmd else {}
    for flag, key in _DURATIONS:
        value = getattr(args, flag)
        if value is not None and (ns := _duration(value, "--" + flag.replace("_", "-"))):
            check[key] = ns  # Docker's JSON omits zero values
    if args.health_retries is not None and (retries := _retries(args.health_retries)):
        check["Retries"] = retries
    return check


def _retries(value: str) -> int:
    try:
        retries = int(value)
    except ValueError:
        raise InvalidArgument(f'invalid argument "{value}" for "--health-retries" flag: '
                              f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
    if retries < 0:
        raise InvalidArgument("--health-retries cannot be negative")
    return retries


def _duration(value: str, flag: str) -> int:
    from freight.builder.dockerfile.arguments import parse_duration  # only with a --health-* flag
    from freight.builder.dockerfile.instructions import InstructionError

    try:
        ns = parse_duration(value)
    except InstructionError as err:
        raise InvalidArgument(f'invalid argument "{value}" for "{flag}" flag: {err}') from None
    if ns < 0:
        raise InvalidArgument(f"{flag} cannot be negative")
    return ns
