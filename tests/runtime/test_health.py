"""Health checks: run by the monitor, recorded in the container's state; ``ps`` shows the
health, ``inspect`` its State.Health, ``--filter health=`` selects by it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from testlib import wait_until

from freight.runtime.health import record
from freight.store import Store


def _health(cli, name: str) -> dict:
    return json.loads(cli("inspect", "-f", "{{json .State.Health}}", name, check=True).stdout)


def _status(cli, name: str) -> str:
    return cli("ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}", check=True).stdout.strip()


def test_a_failing_check_makes_the_container_unhealthy_after_its_retries(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "sick", "--health-cmd", "echo probing; exit 1", "--health-interval", "200ms",
        "--health-retries", "3", "busybox", "sleep", "60", check=True)
    cli("run", "-d", "--name", "well", "--health-cmd", "test -d /tmp", "--health-interval", "200ms",
        "busybox", "sleep", "60", check=True)
    cli("run", "-d", "--name", "plain", "busybox", "sleep", "60", check=True)
    cli("run", "-d", "--name", "waiting", "--health-cmd", "true", "--health-interval", "1m", "busybox", "sleep", "60",
        check=True)
    try:
        assert _status(cli, "waiting").endswith(" (health: starting)")
        assert wait_until(lambda: _health(cli, "sick")["Status"] == "unhealthy", timeout=15)
        health = _health(cli, "sick")
        assert health["FailingStreak"] >= 3 and 3 <= len(health["Log"]) <= 5
        entry = health["Log"][-1]
        assert set(entry) == {"Start", "End", "ExitCode", "Output"}
        assert entry["ExitCode"] == 1 and entry["Output"] == "probing\n"
        assert _status(cli, "sick").startswith("Up ") and _status(cli, "sick").endswith("(unhealthy)")
        assert wait_until(lambda: _health(cli, "well")["Status"] == "healthy", timeout=15)
        assert _status(cli, "well").endswith("(healthy)") and _health(cli, "well")["FailingStreak"] == 0
        assert "(" not in _status(cli, "plain")
        def names(value: str) -> list[str]:
            return cli("ps", "--filter", f"health={value}", "--format", "{{.Names}}", check=True).stdout.split()
        assert names("unhealthy") == ["sick"] and names("healthy") == ["well"] and names("none") == ["plain"]
        assert names("starting") == ["waiting"]
        assert cli("ps", "--filter", "health=ok").returncode != 0
        cli("stop", "-t", "0", "well", check=True)  # as Docker's: a stopped container is unhealthy
        assert _health(cli, "well")["Status"] == "unhealthy" and _health(cli, "well")["FailingStreak"] == 0
        assert _status(cli, "well").startswith("Exited (137) ")
    finally:
        cli("rm", "-f", "sick", "well", "plain", "waiting")


def test_a_check_past_its_timeout_fails_and_no_healthcheck_disables_the_image_s(runtime_store: Store, cli,
                                                                               tmp_path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nHEALTHCHECK --interval=200ms --timeout=300ms --retries=1 "
                                         "CMD sleep 5\n")
    cli("build", "-q", "-t", "slowcheck", str(tmp_path), check=True)
    cli("run", "-d", "--name", "slow", "slowcheck", "sleep", "60", check=True)
    cli("run", "-d", "--name", "off", "--no-healthcheck", "slowcheck", "sleep", "60", check=True)
    try:
        assert wait_until(lambda: _health(cli, "slow")["Status"] == "unhealthy", timeout=15)
        entry = _health(cli, "slow")["Log"][0]
        assert entry["ExitCode"] == -1 and entry["Output"] == "Health check exceeded timeout (300ms)"
        assert cli("inspect", "-f", "{{.Config.Healthcheck.Test}}", "off", check=True).stdout.strip() == "[NONE]"
        assert "Health" not in json.loads(cli("inspect", "off", check=True).stdout)[0]["State"]
    finally:
        cli("rm", "-f", "slow", "off")
    conflict = cli("run", "--no-healthcheck", "--health-cmd", "true", "busybox", "true")
    assert conflict.returncode == 125 and "--no-healthcheck conflicts with --health-* options" in conflict.stderr


def test_failures_in_the_start_period_do_not_count() -> None:
    fail = {"Start": "", "End": "", "ExitCode": 1, "Output": ""}
    ok = {**fail, "ExitCode": 0}
    starting = {"Status": "starting", "FailingStreak": 0, "Log": []}
    held = record(starting, fail, 1, in_start_period=True)
    assert held["Status"] == "starting" and held["FailingStreak"] == 0 and held["Log"] == [fail]
    assert record(held, fail, 1, in_start_period=False)["Status"] == "unhealthy"
    healthy = record(held, ok, 1, in_start_period=True)
    assert healthy["Status"] == "healthy"
    assert record(healthy, fail, 2, in_start_period=True) == {"Status": "healthy", "FailingStreak": 1,
                                                              "Log": [fail, ok, fail]}


def test_health_and_restarts_read_as_docker_s(runtime_store: Store, cli, docker: list[str], tmp_path) -> None:
    """The same failing check and the same on-failure policy, under Docker and under freight."""
    cli("save", "-o", str(tmp_path / "busybox.tar"), "busybox", check=True)
    subprocess.run([*docker, "load", "-i", str(tmp_path / "busybox.tar")], check=True, capture_output=True)

    def docker_cli(*args: str) -> str:
        return subprocess.run([*docker, *args], check=True, capture_output=True, text=True).stdout

    flags = ["--network", "none", "--health-cmd", "echo probing; exit 1", "--health-interval", "200ms",
             "--health-retries", "2", "--health-timeout", "1s"]
    docker_cli("run", "-d", "--name", "sick", *flags, "busybox", "sleep", "60")
    docker_cli("run", "-d", "--name", "flaky", "--network", "none", "--restart", "on-failure:2", "busybox",
               "sh", "-c", "exit 3")
    cli("run", "-d", "--name", "sick", *flags, "busybox", "sleep", "60", check=True)
    cli("run", "-d", "--name", "flaky", "--network", "none", "--restart", "on-failure:2", "busybox",
        "sh", "-c", "exit 3", check=True)
    try:
        for run in (docker_cli, lambda *a: cli(*a, check=True).stdout):
            def settled(run: Callable[..., str] = run) -> bool:
                sick, flaky = json.loads(run("inspect", "sick", "flaky"))
                return bool(sick["State"]["Health"]["Status"] == "unhealthy" and
                            flaky["State"]["Status"] == "exited" and flaky["RestartCount"] == 2)
            assert wait_until(settled, timeout=15)
        theirs, ours = (json.loads(docker_cli("inspect", "sick", "flaky")),
                        json.loads(cli("inspect", "sick", "flaky", check=True).stdout))
        for t, o in zip(theirs, ours, strict=True):
            assert o["HostConfig"]["RestartPolicy"] == t["HostConfig"]["RestartPolicy"]
            assert o["RestartCount"] == t["RestartCount"]
            assert o["Config"].get("Healthcheck") == t["Config"].get("Healthcheck")
        health_t, health_o = theirs[0]["State"]["Health"], ours[0]["State"]["Health"]
        assert set(health_o) == set(health_t)
        assert set(health_o["Log"][-1]) == set(health_t["Log"][-1])
        assert (health_o["Log"][-1]["ExitCode"], health_o["Log"][-1]["Output"]) == \
            (health_t["Log"][-1]["ExitCode"], health_t["Log"][-1]["Output"])
        status = "{{.Status}}"
        assert docker_cli("ps", "--filter", "name=sick", "--format", status).endswith("(unhealthy)\n")
        assert cli("ps", "--filter", "name=sick", "--format", status, check=True).stdout.endswith("(unhealthy)\n")
        assert docker_cli("ps", "-q", "--filter", "health=unhealthy").count("\n") == 1
        assert cli("ps", "-q", "--filter", "health=unhealthy", check=True).stdout.count("\n") == 1
    finally:
        subprocess.run([*docker, "rm", "-f", "sick", "flaky"], capture_output=True)
        subprocess.run([*docker, "rmi", "busybox"], capture_output=True)
        cli("rm", "-f", "sick", "flaky")
