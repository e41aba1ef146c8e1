"""Kernel-enforced limits and ports, end to end through the ``freight`` CLI.

Each test would fail if the limit were only recorded: the memory hog is OOM-killed,
the busy loops are throttled (measured as the container's own cgroup CPU time), the
fork bomb hits the pids limit, and a server the container does not publish cannot be
reached from the host. Every container is checked to leave no cgroup, mount or process.
"""

from __future__ import annotations

import os
import re
import socket

import pytest
from testlib import CGROUP_ROOT, free_port, freight_mounts, http_get, processes_mentioning

from freight.store import Store

# Two busy loops for 2 s, then the container's own CPU time (it sees its cgroup as the
# root of its cgroup namespace): nanoseconds (v1 cpuacct) or microseconds (v2 cpu.stat).
BUSY_LOOPS = ("while :; do :; done & while :; do :; done & sleep 2; kill %1 %2; "
              "if [ -r /sys/fs/cgroup/cpuacct/cpuacct.usage ]; "
              "then echo ns $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage); "
              "else echo us $(sed -n 's/^usage_usec //p' /sys/fs/cgroup/cpu.stat); fi; hostname")
FORKS = ("hostname; i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done; "
         "set -- /proc/[0-9]*; echo processes $#; kill $(jobs -p) 2>/dev/null; true")


def _assert_gone(store: Store, short_id: str) -> None:
    """No cgroup (any v1 hierarchy, the v2 tree), mount or process of this container left."""
    assert re.fullmatch(r"[0-9a-f]{12}", short_id), short_id
    assert list(CGROUP_ROOT.glob(f"*/freight/{short_id}*")) == []
    assert list(CGROUP_ROOT.glob(f"freight/{short_id}*")) == []
    assert freight_mounts(store.root) == []
    assert processes_mentioning(str(store.root)) == []
    assert [r[0] for r in store.db.execute("SELECT id FROM containers")] == []


def _cpu_seconds(cli, store: Store, *flags: str) -> float:
    result = cli("run", "--rm", *flags, "busybox", "sh", "-c", BUSY_LOOPS, timeout=60)
    assert result.returncode == 0, result.stderr
    usage, hostname = result.stdout.splitlines()[-2:]
    unit, value = usage.split()
    _assert_gone(store, hostname)
    return int(value) / (1e9 if unit == "ns" else 1e6)


def test_memory_limit_oom_kills(runtime_store: Store, cli) -> None:
    """dd's 100 MB buffer is really touched (read from /dev/zero): 32m kills it, 256m not.

    With Docker's default --memory-swap (twice the memory) and no swap on most test
    hosts, the 32m limit alone decides; memsw accounting (v1) or swap.max (v2) is set too.
    """
    hog = ["busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"]
    result = cli("run", "--name", "hog", "--memory=32m", *hog, timeout=60)
    assert result.returncode == 137, result.stderr
    assert cli("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog",
               check=True).stdout == "true 137\n"
    roomy = cli("run", "--name", "roomy", "--memory=256m", *hog, timeout=60)
    assert roomy.returncode == 0, roomy.stderr
    assert cli("inspect", "-f", "{{.State.OOMKilled}}", "roomy", check=True).stdout == "false\n"
    cid = cli("inspect", "-f", "{{.Id}}", "hog", check=True).stdout.strip()
    cli("rm", "hog", "roomy", check=True)
    _assert_gone(runtime_store, cid[:12])


def test_cpus_quota_throttles_two_busy_loops(runtime_store: Store, cli) -> None:
    limited = _cpu_seconds(cli, runtime_store, "--cpus=0.5")
    # 0.5 CPU for about 2 s: about 1 CPU-second (the loops did run), never much more.
    assert 0.3 <= limited <= 1.15, limited
    if (os.cpu_count() or 1) < 2:
        pytest.skip("the unlimited comparison needs 2 CPUs (one busy loop per CPU)")
    unlimited = _cpu_seconds(cli, runtime_store)
    # About 4 CPU-seconds on 2 idle cores; other work on a shared machine takes some.
    assert unlimited >= max(1.3, 1.3 * limited), (limited, unlimited)


def test_cpuset_and_cpu_shares(runtime_store: Store, cli) -> None:
    script = ("grep Cpus_allowed_list /proc/self/status; "
              "cat /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || cat /sys/fs/cgroup/cpu.weight; "
              "hostname")
    result = cli("run", "--rm", "--cpuset-cpus=0", "--cpu-shares=512", "busybox", "sh", "-c",
                 script)
    assert result.returncode == 0, result.stderr
    cpus, shares, hostname = result.stdout.splitlines()
    assert cpus.split() == ["Cpus_allowed_list:", "0"]
    assert shares in ("512", "20")  # v1 shares, or runc's v2 weight for 512 shares
    _assert_gone(runtime_store, hostname)


def test_pids_limit_stops_forks(runtime_store: Store, cli) -> None:
    limited = cli("run", "--rm", "--pids-limit=10", "busybox", "sh", "-c", FORKS, timeout=60)
    assert limited.returncode != 0
    assert "can't fork" in limited.stderr
    roomy = cli("run", "--rm", "--pids-limit=100", "busybox", "sh", "-c", FORKS, timeout=60)
    assert roomy.returncode == 0, roomy.stderr
    hostname, count = roomy.stdout.splitlines()
    assert int(count.split()[1]) >= 21  # sh and its 20 sleeps
    _assert_gone(runtime_store, limited.stdout.split()[0])
    _assert_gone(runtime_store, hostname)


def _ids(store: Store) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT id FROM containers")]


def test_invalid_memory_is_one_error_and_no_container(runtime_store: Store, cli) -> None:
    result = cli("run", "--rm", "--memory=abc", "busybox", "true")
    assert result.returncode == 125
    lines = result.stderr.splitlines()
    assert lines[0].endswith('invalid argument "abc" for "-m, --memory" flag: invalid size: \'abc\'')
    assert lines[1:] in ([], ["See 'freight run --help'."])
    assert _ids(runtime_store) == []


def test_published_port_reachable_unpublished_not(runtime_store: Store, cli) -> None:
    published, hidden = free_port(), free_port()
    server = (f"mkdir /www; echo hello-web > /www/index.html; httpd -p {hidden} -h /www; "
              "exec httpd -f -p 80 -h /www")
    cid = cli("run", "-d", "-p", f"127.0.0.1:{published}:80", "busybox", "sh", "-c", server,
              check=True).stdout.strip()
    try:
        assert http_get(published) == "hello-web\n"
        # Both servers run (the published one answered; the other started before it)
        # in the container's network namespace: the unpublished port is not on the host.
        assert cli("exec", cid, "wget", "-qO-", f"http://127.0.0.1:{hidden}/",
                   check=True).stdout == "hello-web\n"
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.settimeout(5)
            probe.connect(("127.0.0.1", hidden))
    finally:
        cli("rm", "-f", cid, check=True)
    _assert_gone(runtime_store, cid[:12])
