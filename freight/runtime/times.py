"""Reading json-file container logs: ``--since`` / ``--until`` times, as ``docker logs`` takes them."""

from __future__ import annotations

import re
import time
from datetime import UTC

from freight.errors import InvalidArgument

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_time(value: str, now: float | None = None) -> float:
    """A Unix time from Docker's forms: RFC 3339 (or a date), Unix seconds, or a Go
    duration before now (``10m``, ``1h30m``)."""
    now = time.time() if now is None else now
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    if re.fullmatch(r"(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+", value):
        return now - sum(float(n) * _UNIT[u] for n, u in _DURATION.findall(value))
    from datetime import datetime

    text = value.replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f'invalid value for "since": failed to parse value as time or '
                              f'duration: "{value}"') from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def record_time(stamp: str) -> float:
    """The Unix time of a json-file record's ``time`` (RFC 3339 with nanoseconds)."""
    from datetime import datetime

    base, _, rest = stamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(base).replace(tzinfo=UTC).timestamp()
    return seconds + (float("0." + rest) if rest else 0.0)
