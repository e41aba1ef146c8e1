"""A container that has run a while keeps its monitor, re-executed small (``freight.runtime.slim``):
the same process, now without the store's modules, still relays the logs and the viewers'
streams, and hands the exit back to the full monitor, which records it, removes a ``--rm``
container and applies the restart policy."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from testlib import Terminal, freight_process, wait_until

from freight.runtime import containers, ipam
from freight.runtime.slim import SETTLE
from freight.store import Store


def _monitor(store: Store, name: str) -> tuple[int, str]:
    state = containers.get(store, name).state
    return int(state["MonitorPid"]), str(state["MonitorStartTime"])


def _small(pid: int) -> bool:
    """Whether monitor ``pid`` runs as the small one, with no sqlite (the store's) loaded."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
    return b"freight.runtime.slim" in command and "sqlite" not in maps


def _made_small(store: Store, name: str) -> int:
    """The monitor of ``name``, once it runs small (within a few seconds of settling)."""
    pid, _ = _monitor(store, name)
    assert wait_until(lambda: _small(pid), timeout=SETTLE + 10), f"the monitor of {name} was never made small"
    return pid


def test_a_settled_monitor_is_made_small_and_keeps_the_log_and_the_stop(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "settled", "busybox", "sh", "-c",
        "trap 'echo got-term; exit 7' TERM; echo before; (sleep 4; echo after) & while :; do sleep 0.1; done",
        check=True)
    before = _monitor(runtime_store, "settled")
    assert not _small(before[0])  # a new container's monitor is the full one
    pid = _made_small(runtime_store, "settled")
    assert _monitor(runtime_store, "settled") == before  # the same process, as recorded
    assert wait_until(lambda: "after" in cli("logs", "settled").stdout, timeout=20)
    cli("stop", "settled", check=True)
    c = containers.get(runtime_store, "settled")
    assert (c.state["Status"], c.state["ExitCode"]) == ("exited", 7)
    assert cli("logs", "settled", check=True).stdout == "before\nafter\ngot-term\n"
    assert wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=20)
    cli("rm", "settled", check=True)


def test_restarts_and_rm_after_the_monitor_was_made_small(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--restart", "always", "--name", "again", "busybox", "sleep", "600", check=True)
    monitor = _made_small(runtime_store, "again")
    first = containers.get(runtime_store, "again").pid
    os.kill(first, signal.SIGKILL)  # from the host: the policy restarts it
    assert wait_until(lambda: (c := containers.get(runtime_store, "again")).running and c.pid != first, timeout=20)
    c = containers.get(runtime_store, "again")
    assert c.record["RestartCount"] == 1 and _monitor(runtime_store, "again")[0] == monitor
    assert _made_small(runtime_store, "again") == monitor
    cli("rm", "-f", "again", check=True)

    cid = cli("run", "-d", "--rm", "--name", "brief", "busybox", "sleep", "600", check=True).stdout.strip()
    _made_small(runtime_store, "brief")
    cli("stop", "-t", "1", "brief", check=True)
    assert cli("ps", "-a", "-q", "--no-trunc", check=True).stdout.split().count(cid) == 0


def test_network_leases_go_when_a_small_monitor_s_container_stops(runtime_store: Store, cli) -> None:
    cid = cli("run", "-d", "--name", "wired", "busybox", "sleep", "600", check=True).stdout.strip()
    address = cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "wired", check=True).stdout.strip()
    assert address and ipam.endpoints_of(runtime_store.db, cid)
    _made_small(runtime_store, "wired")
    cli("stop", "-t", "1", "wired", check=True)
    assert ipam.endpoints_of(runtime_store.db, cid) == []
    assert cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "wired", check=True).stdout.strip() == ""
    cli("rm", "wired", check=True)


def test_viewers_and_input_outlive_the_monitor_being_made_small(runtime_store: Store, cli) -> None:
    term = Terminal(runtime_store.root, "run", "-it", "--name", "shell", "busybox", "sh")
    term.read_until(b"# ")
    _made_small(runtime_store, "shell")
    term.type(b"echo typed-$((6*7))\r")
    term.read_until(b"typed-42")
    term.type(b"\x10\x11")  # detached; then a new viewer reaches the small monitor
    assert term.close() == 0
    again = Terminal(runtime_store.root, "attach", "shell")
    wait_until(lambda: False, timeout=0.5)
    again.type(b"echo again-$((6*7))\r")
    again.read_until(b"again-42")
    again.type(b"exit 5\r")
    assert again.close() == 5
    assert containers.get(runtime_store, "shell").state["ExitCode"] == 5
    logged = cli("logs", "shell", check=True).stdout
    assert "typed-42" in logged and "again-42" in logged
    cli("rm", "shell", check=True)

    piped = freight_process(runtime_store.root, "run", "-i", "--rm", "--name", "reader", "busybox", "sh", "-c",
                            "read line; echo got:$line", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert wait_until(lambda: "reader" in cli("ps", "--format", "{{.Names}}").stdout, timeout=20)
    _made_small(runtime_store, "reader")
    out, _ = piped.communicate(b"hello\n", timeout=30)
    assert (piped.returncode, out) == (0, b"got:hello\n")
