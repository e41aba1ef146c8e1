"""Restart policies: the monitor restarts the container as ``--restart`` says, with Docker's
back-off; ``stop``/``kill`` through freight are stops by hand; ``system boot`` brings back the
``always``/``unless-stopped`` containers of a store whose monitors are gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from testlib import REPO, require_tool, wait_until

from freight.runtime.restart import Restarts, parse_policy
from freight.store import Store


def _inspect(cli, name: str) -> dict:
    return json.loads(cli("inspect", name, check=True).stdout)[0]


def _pid(cli, name: str) -> int:
    return int(cli("inspect", "-f", "{{.State.Pid}}", name, check=True).stdout)


def test_on_failure_restarts_up_to_its_count_and_stops(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "flaky", "--restart", "on-failure:3", "busybox", "sh", "-c", "exit 3", check=True)
    try:
        assert wait_until(lambda: _inspect(cli, "flaky")["State"]["Status"] == "exited"
                          and _inspect(cli, "flaky")["RestartCount"] == 3, timeout=20)
        info = _inspect(cli, "flaky")
        assert info["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        assert info["State"]["ExitCode"] == 3 and info["State"]["Restarting"] is False
        assert "ManualStop" not in info["State"] and "MonitorPid" not in info["State"]
        assert len(cli("logs", "flaky", check=True).stdout.splitlines()) == 0
    finally:
        cli("rm", "-f", "flaky")
    cli("run", "-d", "--name", "fine", "--restart", "on-failure", "busybox", "true", check=True)
    assert wait_until(lambda: _inspect(cli, "fine")["State"]["Status"] == "exited", timeout=10)
    assert _inspect(cli, "fine")["RestartCount"] == 0  # exit 0 is no failure
    cli("rm", "fine", check=True)


def test_always_restarts_a_process_killed_from_the_host_but_not_a_stopped_one(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "keeper", "--restart", "always", "busybox", "sleep", "60", check=True)
    try:
        first = _pid(cli, "keeper")
        os.kill(first, signal.SIGKILL)
        assert wait_until(lambda: _pid(cli, "keeper") not in (0, first), timeout=10)
        info = _inspect(cli, "keeper")
        assert info["State"]["Running"] and info["RestartCount"] == 1
        assert "Up " in cli("ps", "--format", "{{.Status}}", "--filter", "name=keeper", check=True).stdout
        cli("stop", "-t", "1", "keeper", check=True)
        assert wait_until(lambda: _inspect(cli, "keeper")["State"]["Status"] == "exited")
        cli("start", "keeper", check=True)  # a start ends the stop by hand: a kill from the host restarts it
        cli("kill", "keeper", check=True)
        assert wait_until(lambda: _inspect(cli, "keeper")["State"]["Status"] == "exited")
        time.sleep(1)  # ten back-off delays: no restart came
        assert _inspect(cli, "keeper")["State"]["Status"] == "exited"
        assert cli("ps", "-q", "--filter", "name=keeper", check=True).stdout == ""
    finally:
        cli("rm", "-f", "keeper")


def test_system_boot_starts_always_and_unless_stopped_containers_whose_monitors_are_gone(
        runtime_store: Store, cli) -> None:
    for name, policy in (("ca", "always"), ("cu", "unless-stopped"), ("cs", "unless-stopped"),
                         ("cn", "no")):
        cli("run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "60", check=True)
    try:
        cli("stop", "-t", "0", "cs", check=True)  # stopped by hand: unless-stopped stays down
        for name in ("ca", "cu", "cn"):  # a "reboot": monitors and containers gone at once
            monitor = int(runtime_store.db.execute(
                "SELECT json_extract(state, '$.MonitorPid') FROM containers WHERE name = ?", (name,)).fetchone()[0])
            pid = _pid(cli, name)
            os.kill(monitor, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: cli("ps", "-q", check=True).stdout == "", timeout=10)
        booted = cli("system", "boot", check=True)
        ids = {n: _inspect(cli, n)["Id"] for n in ("ca", "cu")}
        assert booted.stdout.split() == [ids["ca"], ids["cu"]]
        running = cli("ps", "--format", "{{.Names}}", check=True).stdout.split()
        assert sorted(running) == ["ca", "cu"]
        assert cli("system", "boot", check=True).stdout == ""  # running ones are left alone
    finally:
        cli("rm", "-f", "ca", "cu", "cs", "cn")


def test_bad_restart_policies_are_refused(runtime_store: Store, cli) -> None:
    bad = cli("run", "--restart", "sometimes", "busybox", "true")
    assert bad.returncode == 125 and "invalid restart policy" in bad.stderr
    both = cli("run", "--rm", "--restart", "always", "busybox", "true")
    assert both.returncode == 125 and "conflicting options: cannot specify both --restart and --rm" in both.stderr
    count = cli("run", "--restart", "on-failure:x", "busybox", "true")
    assert count.returncode == 125 and "maximum retry count must be an integer" in count.stderr
    assert cli("ps", "-aq", check=True).stdout == ""
    cli("create", "--name", "plain", "busybox", "true", check=True)
    policy = cli("inspect", "-f", "{{json .HostConfig.RestartPolicy}} {{.RestartCount}}", "plain", check=True)
    assert policy.stdout == '{"Name":"no","MaximumRetryCount":0} 0\n'
    cli("rm", "plain", check=True)


def test_back_off_doubles_and_resets_after_ten_seconds_of_running() -> None:
    r = Restarts(parse_policy("always"))
    assert [r.next_delay(1, False, 0.0) for _ in range(4)] == [0.1, 0.2, 0.4, 0.8]
    assert r.next_delay(0, False, 12.0) == 0.1 and r.count == 5
    assert r.next_delay(1, True, 0.0) is None
    limited = Restarts(parse_policy("on-failure:1"))
    assert limited.next_delay(0, False, 0.0) is None
    assert limited.next_delay(2, False, 0.0) == 0.1 and limited.next_delay(2, False, 0.0) is None


def test_a_restarting_container_shows_so_and_a_stop_cancels_its_restart(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "crashing", "--restart", "always", "busybox", "sh", "-c", "exit 2", check=True)
    try:
        assert wait_until(lambda: _inspect(cli, "crashing")["RestartCount"] >= 5, timeout=20)
        assert wait_until(lambda: _inspect(cli, "crashing")["State"]["Status"] == "restarting", timeout=5)
        assert cli("ps", "-a", "--format", "{{.Status}}", check=True).stdout.startswith("Restarting (2) ")
        assert cli("ps", "-aq", "--filter", "status=restarting", check=True).stdout.strip()
        refused = cli("rm", "crashing")
        assert refused.returncode == 1 and "container is restarting" in refused.stderr
        cli("stop", "crashing", check=True)
        count = _inspect(cli, "crashing")["RestartCount"]
        assert wait_until(lambda: _inspect(cli, "crashing")["State"]["Status"] == "exited", timeout=5)
        time.sleep(2)  # longer than the back-off it was waiting out
        info = _inspect(cli, "crashing")
        assert info["State"]["Status"] == "exited" and info["RestartCount"] == count
    finally:
        cli("rm", "-f", "crashing")


def test_the_shipped_systemd_unit_runs_system_boot(tmp_path) -> None:
    unit = REPO / "contrib" / "systemd" / "freight-boot.service"
    lines = unit.read_text().splitlines()
    assert "ExecStart=/usr/bin/env freight system boot" in lines and "RemainAfterExit=yes" in lines
    (tmp_path / unit.name).write_text(unit.read_text())
    checked = subprocess.run([require_tool("systemd-analyze", "systemd"), "verify", str(tmp_path / unit.name)],
                             capture_output=True, text=True)
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr


def test_a_container_whose_monitor_died_waiting_to_restart_it_is_exited_until_boot(runtime_store: Store,
                                                                                    cli) -> None:
    cli("run", "-d", "--name", "orphan", "--restart", "always", "busybox", "sh", "-c", "exit 2", check=True)
    try:
        assert wait_until(lambda: _inspect(cli, "orphan")["RestartCount"] >= 4, timeout=20)
        assert wait_until(lambda: _inspect(cli, "orphan")["State"]["Status"] == "restarting", timeout=5)
        monitor = int(runtime_store.db.execute(
            "SELECT json_extract(state, '$.MonitorPid') FROM containers WHERE name = 'orphan'").fetchone()[0])
        os.kill(monitor, signal.SIGKILL)
        assert wait_until(lambda: _inspect(cli, "orphan")["State"]["Status"] == "exited", timeout=5)
        assert cli("ps", "-a", "--format", "{{.Status}}", check=True).stdout.startswith("Exited (2) ")
        assert cli("system", "boot", check=True).stdout.strip() == _inspect(cli, "orphan")["Id"]
        assert wait_until(lambda: _inspect(cli, "orphan")["RestartCount"] >= 1, timeout=10)
    finally:
        cli("rm", "-f", "orphan")
