"""Detached containers, the monitor, create/start/stop/kill/wait/rm, and what removal leaves."""

from __future__ import annotations

import json
import time

import pytest
from testlib import freight_cgroups, freight_mounts, processes_mentioning, wait_until

from freight.errors import Conflict, NotFound
from freight.runtime import containers, lifecycle
from freight.store import Store


def state(store: Store, ref: str) -> dict:
    return containers.get(store, ref).state


def test_detached_prints_id_and_monitor_records_exit_and_logs(runtime_store: Store, cli) -> None:
    started = time.monotonic()
    result = cli("run", "-d", "--name", "bg", "busybox", "sh", "-c", "echo out; echo err >&2; sleep 1; exit 5",
                 check=True)
    assert time.monotonic() - started < 1.0  # returns at once
    cid = result.stdout.strip()
    assert len(cid) == 64 and all(c in "0123456789abcdef" for c in cid)
    running = state(runtime_store, "bg")
    assert running["Status"] == "running" and running["Running"] and running["Pid"] > 0
    assert cli("wait", "bg").stdout.strip() == "5"
    done = state(runtime_store, cid[:10])
    assert (done["Status"], done["Running"], done["ExitCode"], done["Pid"]) == ("exited", False, 5, 0)
    assert done["FinishedAt"] > done["StartedAt"]
    log = runtime_store.root / "containers" / cid / f"{cid}-json.log"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["stream"], r["log"]) for r in records] == [("stdout", "out\n"), ("stderr", "err\n")]


def test_create_then_start_attached_and_detached(runtime_store: Store, cli) -> None:
    cid = cli("create", "--name", "later", "busybox", "echo", "hello", check=True).stdout.strip()
    assert state(runtime_store, cid)["Status"] == "created"
    assert not (runtime_store.root / "containers" / cid / "upper" / "etc").exists()
    attached = cli("start", "-a", "later")
    assert attached.returncode == 0 and attached.stdout == "hello\n"
    assert cli("start", "later", check=True).stdout.strip() == "later"
    assert cli("wait", "later").stdout.strip() == "0"
    assert state(runtime_store, cid)["Status"] == "exited"


def test_stop_sends_term_then_kill(runtime_store: Store, cli) -> None:
    trapping = cli("run", "-d", "busybox", "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done",
                   check=True).stdout.strip()
    time.sleep(0.3)
    assert cli("stop", trapping).returncode == 0
    assert state(runtime_store, trapping)["ExitCode"] == 42
    ignoring = cli("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    started = time.monotonic()
    assert cli("stop", "-t", "1", ignoring).returncode == 0  # PID 1 ignores SIGTERM
    assert 0.9 < time.monotonic() - started < 10
    assert state(runtime_store, ignoring)["ExitCode"] == 137


def test_names_are_unique_and_lookup_follows_docker(runtime_store: Store, cli) -> None:
    cid = cli("create", "--name", "dup", "busybox", "true", check=True).stdout.strip()
    again = cli("create", "--name", "dup", "busybox", "true")
    assert again.returncode == 125 and "is already in use" in again.stderr
    assert containers.get(runtime_store, "/dup").id == cid
    assert containers.get(runtime_store, cid[:6]).id == cid
    with pytest.raises(NotFound):
        containers.get(runtime_store, "nope")


def test_rm_refuses_running_unless_forced(runtime_store: Store, cli) -> None:
    cid = cli("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    with pytest.raises(Conflict):
        lifecycle.remove(runtime_store, cid)
    pid = state(runtime_store, cid)["Pid"]
    assert cli("rm", "-f", cid).returncode == 0
    with pytest.raises(NotFound):
        containers.get(runtime_store, cid)
    assert not (runtime_store.root / "containers" / cid).exists()
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)


def test_rm_flag_removes_everything_after_exit(runtime_store: Store, cli) -> None:
    cli("run", "--rm", "--memory", "64m", "--pids-limit", "50", "busybox", "true", check=True)
    cid = cli("run", "-d", "--rm", "--memory", "64m", "busybox", "sh", "-c", "sleep 0.5", check=True).stdout.strip()
    assert freight_cgroups([cid])  # limits put it in its own cgroup
    assert wait_until(lambda: not runtime_store.db.execute("SELECT 1 FROM containers WHERE id = ?",
                                                           (cid,)).fetchone(), timeout=20)
    time.sleep(0.2)
    assert freight_cgroups([cid]) == []
    assert not (runtime_store.root / "containers" / cid).exists()
    assert freight_mounts(runtime_store.root) == []
    assert processes_mentioning(str(runtime_store.root)) == []


def test_memory_limit_is_applied_and_oom_is_recorded(runtime_store: Store, cli) -> None:
    cid = cli("run", "-d", "--memory", "16m", "--memory-swap", "16m", "busybox", "sh", "-c",
              "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max;"
              " x=a; while :; do x=$x$x; done", check=True).stdout.strip()
    assert cli("wait", cid, timeout=60).stdout.strip() == "137"
    st = state(runtime_store, cid)
    assert st["OOMKilled"] is True
    log = (runtime_store.root / "containers" / cid / f"{cid}-json.log").read_text()
    assert str(16 * 1024 * 1024) in log


def test_a_failed_start_keeps_the_container_created_with_the_error(runtime_store: Store, cli) -> None:
    result = cli("run", "--name", "broken", "busybox", "nosuchcmd")
    assert result.returncode == 127
    st = state(runtime_store, "broken")
    assert st["Status"] == "created" and "executable file not found" in st["Error"]
    assert cli("run", "-d", "busybox", "nosuchcmd").returncode == 127


def test_exec_joins_namespaces_cgroup_and_identity(runtime_store: Store, cli) -> None:
    cid = cli("run", "-d", "--name", "target", "-e", "FROM_RUN=1", "busybox", "sleep", "60", check=True).stdout.strip()
    result = cli("exec", "target", "sh", "-c",
                 "ps -o pid,comm; hostname; echo $FROM_RUN; grep CapEff /proc/self/status", check=True)
    out = result.stdout.splitlines()
    assert out[1].split() == ["1", "sleep"]
    assert cid[:12] in out and "1" in out
    assert "CapEff:\t00000000a80425fb" in out
    as_user = cli("exec", "-u", "www-data", "-w", "/tmp", "-e", "X=2", "target", "sh", "-c",
                  "id -u; pwd; echo $X; exit 3")
    assert as_user.returncode == 3 and as_user.stdout.split() == ["33", "/tmp", "2"]
    assert cli("exec", "-i", "target", "cat", input="piped\n").stdout == "piped\n"
    missing = cli("exec", "target", "nosuchcmd")
    assert missing.returncode == 127 and "executable file not found" in missing.stderr
    cli("stop", "-t", "0", "target", check=True)
    stopped = cli("exec", "target", "true")
    assert stopped.returncode != 0 and "is not running" in stopped.stderr


def test_ps_and_logs(runtime_store: Store, cli) -> None:
    cid = cli("run", "-d", "--name", "lister", "busybox", "sh", "-c", "echo one; echo two >&2; sleep 30",
              check=True).stdout.strip()
    cli("run", "--name", "finished", "busybox", "sh", "-c", "exit 2")
    running = cli("ps", check=True).stdout.splitlines()
    assert running[0].split()[:3] == ["CONTAINER", "ID", "IMAGE"]
    assert len(running) == 2 and running[1].startswith(cid[:12]) and running[1].endswith("lister")
    everything = cli("ps", "-a", "--format", "{{.Names}} {{.State}} {{.Status}}", check=True).stdout
    assert "lister running Up" in everything and "finished exited Exited (2)" in everything
    assert cli("ps", "-q", "--no-trunc", check=True).stdout.split() == [cid]
    time.sleep(0.3)
    logs = cli("logs", "lister", check=True)
    assert logs.stdout == "one\n" and logs.stderr == "two\n"
    tail = cli("logs", "-t", "--tail", "1", "lister", check=True)
    assert tail.stdout == "" and tail.stderr.endswith("Z two\n")
    cli("kill", "lister", check=True)
    followed = cli("logs", "-f", "lister", timeout=30)
    assert followed.returncode == 0 and followed.stdout == "one\n"


def test_init_forwards_stop_signal_and_reaps(runtime_store: Store, cli) -> None:
    cid = cli("run", "-d", "--init", "busybox", "sh", "-c", "sleep 100 & exec sleep 60", check=True).stdout.strip()
    time.sleep(0.3)
    started = time.monotonic()
    assert cli("stop", "-t", "20", cid).returncode == 0
    assert time.monotonic() - started < 10  # SIGTERM reached the command through the init
    assert state(runtime_store, cid)["ExitCode"] == 143
