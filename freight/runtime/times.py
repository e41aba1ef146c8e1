"""Docker's times: RFC 3339 with nanoseconds as containers' records and json-file logs
hold them (``timestamp``), and the ``--since``/``--until`` forms ``docker logs`` takes."""

from __future__ import annotations

import time

from freight.errors import InvalidArgument

_DURATION = r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)"
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def timestamp(ns: int | None = None) -> str:
    """RFC 3339 with nanoseconds and trailing zeros trimmed, as Go's RFC3339Nano."""
    ns = time.time_ns() if ns is None else ns
    seconds, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{frac:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def parse_time(value: str, now: float | None = None) -> float:
    """A Unix time from Docker's forms: RFC 3339 (or a date), Unix seconds, or a Go
    duration before now (``10m``, ``1h30m``)."""
    import re  # this and datetime: not for ``timestamp``, which a container's monitor keeps using
    from datetime import UTC, datetime

    now = time.time() if now is None else now
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    if re.fullmatch(r"(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+", value):
        return now - sum(float(n) * _UNIT[u] for n, u in re.findall(_DURATION, value))
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
    from datetime import UTC, datetime

    base, _, rest = stamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(base).replace(tzinfo=UTC).timestamp()
    return seconds + (float("0." + rest) if rest else 0.0)


def human_duration(seconds: float) -> str:
    """go-units HumanDuration, as Docker shows ages ("2 weeks")."""
    if seconds < 1:
        return "Less than a second"
    if round(seconds) == 1:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def age(stamp: str, now: float | None = None) -> str:
    """Docker's \"2 weeks\" for the time since an RFC 3339 timestamp."""
    return human_duration((time.time() if now is None else now) - record_time(stamp))


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()`` for whole milliseconds and up: 1h2m3s, 1.5s, 300ms
    (HEALTHCHECK in ``history``, a health check's timeout)."""
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:g}ms"
    seconds = ns / 1_000_000_000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    return f"{int(minutes)}m{text}" if minutes else text
