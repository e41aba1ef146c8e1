"""``ps --filter`` and ``logs --since/--until``, through the CLI."""

from __future__ import annotations

import time

import pytest

from freight.runtime.times import parse_time, record_time
from freight.store import Store


def _names(cli, *args: str) -> set[str]:
    return set(cli("ps", "--format", "{{.Names}}", *args, check=True).stdout.split())


def test_ps_filters(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "web-1", "--label", "tier=front", "-p", "127.0.0.1::80", "busybox",
        "sleep", "30", check=True)
    cli("run", "--name", "job-ok", "busybox", "true", check=True)
    cli("run", "--name", "job-bad", "--label", "tier=batch", "busybox", "sh", "-c", "exit 3")
    cli("create", "--name", "fresh", "busybox", "true", check=True)
    try:
        assert _names(cli) == {"web-1"}
        assert _names(cli, "-a") == {"web-1", "job-ok", "job-bad", "fresh"}
        assert _names(cli, "-f", "status=exited") == {"job-ok", "job-bad"}
        assert _names(cli, "-f", "exited=3") == {"job-bad"}
        assert _names(cli, "-f", "status=created") == {"fresh"}
        assert _names(cli, "-a", "-f", "name=job") == {"job-ok", "job-bad"}
        assert _names(cli, "-a", "-f", "label=tier") == {"web-1", "job-bad"}
        assert _names(cli, "-a", "-f", "label=tier=front") == {"web-1"}
        assert _names(cli, "-a", "-f", "name=job", "-f", "exited=0") == {"job-ok"}
        assert _names(cli, "-a", "-f", "ancestor=busybox") == {"web-1", "job-ok", "job-bad", "fresh"}
        assert _names(cli, "-a", "-f", "publish=80") == {"web-1"}
        assert _names(cli, "-a", "-f", "since=job-ok") == {"job-bad", "fresh"}
        assert _names(cli, "-a", "-f", "before=job-ok") == {"web-1"}
        web_id = cli("ps", "-q", "--no-trunc", "-f", "name=web", check=True).stdout.strip()
        assert _names(cli, "-f", f"id={web_id[:6]}") == {"web-1"}
        bad = cli("ps", "-f", "colour=red")
        assert bad.returncode == 1 and bad.stderr == "Error: invalid filter 'colour=red'\n"
    finally:
        cli("rm", "-f", "web-1", "job-ok", "job-bad", "fresh")


def test_logs_since_and_until(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "talker", "busybox", "sh", "-c", "echo early; sleep 2; echo late", check=True)
    cli("wait", "talker", check=True)
    stamped = cli("logs", "-t", "talker", check=True).stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["early", "late"]
    late_at = record_time(stamped[1].split(" ", 1)[0])
    middle = f"{late_at - 1:.3f}"
    assert cli("logs", "--since", middle, "talker", check=True).stdout == "late\n"
    assert cli("logs", "--until", middle, "talker", check=True).stdout == "early\n"
    assert cli("logs", "--since", "1h", "talker", check=True).stdout == "early\nlate\n"
    assert cli("logs", "--until", "1h", "talker", check=True).stdout == ""
    bad = cli("logs", "--since", "yesterday-ish", "talker")
    assert bad.returncode == 1 and "failed to parse value as time or duration" in bad.stderr
    cli("rm", "talker", check=True)


@pytest.mark.parametrize("text, expected", [
    ("1700000000", 1700000000.0), ("1700000000.5", 1700000000.5),
    ("2023-11-14T22:13:20Z", 1700000000.0), ("2023-11-14T23:13:20+01:00", 1700000000.0),
    ("2023-11-14", 1699920000.0), ("10m", 1700000000.0 - 600), ("1h30m", 1700000000.0 - 5400),
    ("1.5s", 1700000000.0 - 1.5),
])
def test_log_time_forms(text: str, expected: float) -> None:
    assert parse_time(text, now=1700000000.0) == pytest.approx(expected)


def test_record_time_keeps_nanoseconds() -> None:
    assert record_time("2023-11-14T22:13:20.123456789Z") == pytest.approx(1700000000.123456789)
    assert time.time() > record_time("2023-11-14T22:13:20Z")
