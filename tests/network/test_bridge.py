"""The default bridge: outbound NAT, nothing reachable from outside, the hosts files,
NetworkSettings, and nothing left behind (tests run in namespaces of their own: ``networld``)."""

from __future__ import annotations

import json

from networld import OUTSIDE_IP, World

from freight.store import Store

FETCH = f"timeout 5 wget -q -O - http://{OUTSIDE_IP}/hello.txt"
SERVE = "mkdir /www && echo hi > /www/index.html && exec httpd -f -p 80 -h /www"
REACH = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()"


def _inspect(world: World, name: str) -> dict:
    return json.loads(world.freight("inspect", name, check=True).stdout)[0]


def test_a_container_reaches_the_outside_through_nat(busybox_store: Store, world: World) -> None:
    result = world.freight("run", "--rm", "busybox", "sh", "-c", FETCH)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from outside\n"
    assert world.settled() == {}


def test_nothing_outside_reaches_a_container_and_neighbours_reach_each_other_by_address(
        busybox_store: Store, world: World) -> None:
    world.freight("run", "-d", "--name", "web", "busybox", "sh", "-c", SERVE, check=True)
    address = _inspect(world, "web")["NetworkSettings"]["IPAddress"]
    assert address.startswith("10.77.")
    assert world.run_in(world.out, "python3", "-c", REACH, address, "80").returncode != 0
    assert world.run_in(world.host, "python3", "-c", REACH, address, "80").returncode == 0
    by_address = world.freight("run", "--rm", "busybox", "timeout", "5", "wget", "-q", "-O", "-", f"http://{address}/")
    assert by_address.stdout == "hi\n"
    by_name = world.freight("run", "--rm", "busybox", "timeout", "5", "wget", "-q", "-O", "-", "http://web/")
    assert by_name.returncode != 0 and by_name.stdout == ""
    world.freight("rm", "-f", "web", check=True)
    assert world.settled() == {}


def test_hosts_hostname_and_network_settings(busybox_store: Store, world: World) -> None:
    world.freight("run", "-d", "--name", "box", "--hostname", "web", "busybox", "sleep", "60", check=True)
    info = _inspect(world, "box")
    ns = info["NetworkSettings"]
    address = ns["IPAddress"]
    assert ns["Gateway"] == "10.77.0.1" and ns["IPPrefixLen"] == 16
    mac = "02:42:" + ":".join(f"{int(b):02x}" for b in address.split("."))
    assert ns["MacAddress"] == mac
    bridge = ns["Networks"]["bridge"]
    assert bridge["IPAddress"] == address and bridge["Gateway"] == "10.77.0.1" and bridge["MacAddress"] == mac
    assert len(bridge["NetworkID"]) == 64 and bridge["DNSNames"] is None
    hosts = world.freight("exec", "box", "cat", "/etc/hosts", check=True).stdout
    assert hosts.endswith(f"ff02::2\tip6-allrouters\n{address}\tweb\n")
    assert world.freight("exec", "box", "hostname", check=True).stdout == "web\n"
    inside = world.freight("exec", "box", "ip", "-o", "-4", "addr", "show", "eth0", check=True).stdout
    assert f"inet {address}/16" in inside
    route = world.freight("exec", "box", "ip", "route", check=True).stdout
    assert route.startswith("default via 10.77.0.1 dev eth0")
    world.freight("stop", "-t", "0", "box", check=True)
    stopped = _inspect(world, "box")["NetworkSettings"]
    assert stopped["IPAddress"] == "" and stopped["Networks"]["bridge"]["IPAddress"] == ""
    world.freight("rm", "box", check=True)
    assert world.settled() == {}


def test_addresses_are_handed_out_in_turn(busybox_store: Store, world: World) -> None:
    first = world.freight("run", "--rm", "busybox", "ip", "-o", "-4", "addr", "show", "eth0", check=True).stdout
    second = world.freight("run", "--rm", "busybox", "ip", "-o", "-4", "addr", "show", "eth0", check=True).stdout
    assert "inet 10.77.0.2/16" in first and "inet 10.77.0.3/16" in second


def test_a_subnet_overlapping_a_host_route_is_refused(busybox_store: Store, world: World) -> None:
    result = world.freight("run", "--rm", "busybox", "true", FREIGHT_BRIDGE_SUBNET="198.51.100.0/24")
    assert result.returncode == 125
    assert result.stderr.strip() == ("Error response from daemon: subnet 198.51.100.0/24 overlaps with the "
                                     "host's route to 198.51.100.0/24: choose another subnet")
    assert world.settled() == {}
