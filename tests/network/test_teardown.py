"""Nothing of a container's network is left behind: no veth, lease, firewall element, DNS
name or DNS server, after rm, rm -f, run --rm, kill -9 of the container and kill -9 of
freight itself while it starts one (the next freight command cleans up). Killing only the
client of ``run`` leaves the container running, owned by its monitor (a freight process
too): its network goes when it is removed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3

import pytest
from networld import World
from testlib import wait_until

from freight.store import Store


def _leases(world: World) -> list[str]:
    db = sqlite3.connect(world.root / "metadata.db")
    try:
        return [r[0] for r in db.execute("SELECT container_id FROM endpoints")]
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def _freight_processes(marker: bytes) -> list[int]:
    """The processes forked from ``freight run`` whose command line holds ``marker``: the
    client, the monitor (a fork of it) and the container's process until it runs its command."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if b"freight" in cmdline and marker in cmdline:
                pids.append(int(entry))
    return pids


def _pid(world: World, name: str) -> int:
    return int(json.loads(world.freight("inspect", name, check=True).stdout)[0]["State"]["Pid"])


@pytest.mark.parametrize("publish", [[], ["-p", "8080:80"]])
def test_rm_force_of_a_running_container(busybox_store: Store, world: World, publish: list[str]) -> None:
    world.freight("run", "-d", "--name", "box", *publish, "busybox", "sleep", "60", check=True)
    assert len(world.leftovers()["veths"]) == 1  # type: ignore[arg-type]
    world.freight("rm", "-f", "box", check=True)
    assert world.settled() == {}


def test_kill_9_of_the_container(busybox_store: Store, world: World) -> None:
    world.freight("run", "-d", "--name", "box", "busybox", "sleep", "60", check=True)
    os.kill(_pid(world, "box"), signal.SIGKILL)
    assert world.settled() == {}
    assert json.loads(world.freight("inspect", "box", check=True).stdout)[0]["State"]["ExitCode"] == 137
    world.freight("rm", "box", check=True)
    assert world.settled() == {}


@pytest.mark.parametrize(("network", "then"), [("default", ["ps", "-a"]), ("default", ["system", "prune", "-f"]),
                                               ("default", ["run", "--rm", "busybox", "true"]),
                                               ("app", ["ps", "-a"]), ("app", ["network", "ls"])])
def test_kill_9_of_freight_while_it_starts_a_container(busybox_store: Store, world: World, network: str,
                                                       then: list[str]) -> None:
    if network != "default":  # names in DNS too, and the DNS server
        world.freight("network", "create", network, check=True)
    client = world.popen("run", "--name", "box", "--network", network, "-p", "8080:80", "busybox", "sleep", "60")
    try:
        wait_until(lambda: _leases(world) != [], timeout=20, interval=0.005)
    finally:
        for pid in _freight_processes(b"--name\0box\0"):
            os.kill(pid, signal.SIGKILL)
        client.wait()
    world.freight(*then, check=True)
    assert world.settled() == {}


def test_kill_9_of_the_run_client_leaves_the_container_running(busybox_store: Store, world: World) -> None:
    client = world.popen("run", "--name", "box", "-p", "8080:80", "busybox", "sleep", "60")
    try:
        wait_until(lambda: _leases(world) != [], timeout=20, interval=0.005)
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait()
    world.freight("ps", check=True)
    wait_until(lambda: json.loads(world.freight("inspect", "box", check=True).stdout)[0]["State"]["Running"],
               timeout=20)
    assert len(world.leftovers()["veths"]) == 1  # type: ignore[arg-type]
    world.freight("rm", "-f", "box", check=True)
    assert world.settled() == {}


def test_a_container_that_cannot_start_leaves_nothing(busybox_store: Store, world: World) -> None:
    result = world.freight("run", "--rm", "-p", "8080:80", "busybox", "no-such-command")
    assert result.returncode == 127
    kept = world.freight("run", "--name", "kept", "busybox", "no-such-command")
    assert kept.returncode == 127
    assert world.settled() == {}
    world.freight("start", "kept")
    assert world.settled() == {}
