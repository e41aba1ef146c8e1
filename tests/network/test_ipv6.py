"""IPv6 on a user-defined network (``network create --ipv6 --subnet fd00:...``): addresses in
inspect, container to container over IPv6, outbound IPv6 through masquerade (tests run in
namespaces of their own: ``networld``)."""

from __future__ import annotations

import json

from networld import World

from freight.store import Store

SERVE = "mkdir /www && echo hi from $(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def _get(world: World, url: str) -> str:
    result = world.freight("run", "--rm", "--init", "--network", "v6", "busybox", "timeout", "5", "wget", "-q", "-O",
                           "-", url)
    return result.stdout if result.returncode == 0 else f"failed: {result.stdout}{result.stderr}"


def test_ipv6_network(busybox_store: Store, world: World) -> None:
    outside = world.ipv6()
    world.freight("network", "create", "--ipv6", "--subnet", "10.125.0.0/24", "--subnet", "fd00:77::/64", "v6",
                  check=True)
    info = json.loads(world.freight("network", "inspect", "v6", check=True).stdout)[0]
    assert info["EnableIPv6"] is True
    assert info["IPAM"]["Config"] == [{"Subnet": "10.125.0.0/24", "Gateway": "10.125.0.1"},
                                      {"Subnet": "fd00:77::/64", "Gateway": "fd00:77::1"}]
    assert "true" in world.freight("network", "ls", "--filter", "name=v6", "--format", "{{.IPv6}}", check=True).stdout
    world.freight("run", "-d", "--name", "web", "--hostname", "web", "--network", "v6", "busybox", "sh", "-c", SERVE,
                  check=True)
    entry = json.loads(world.freight("inspect", "web", check=True).stdout)[0]["NetworkSettings"]["Networks"]["v6"]
    assert (entry["GlobalIPv6Address"], entry["GlobalIPv6PrefixLen"], entry["IPv6Gateway"]) == (
        "fd00:77::2", 64, "fd00:77::1")
    members = json.loads(world.freight("network", "inspect", "v6", check=True).stdout)[0]["Containers"]
    assert [m["IPv6Address"] for m in members.values()] == ["fd00:77::2/64"]
    assert _get(world, "http://[fd00:77::2]/") == "hi from web\n"
    assert _get(world, f"http://[{outside}]/hello.txt") == "hello from outside\n"
    hosts = world.freight("exec", "web", "cat", "/etc/hosts", check=True).stdout
    assert hosts.endswith("10.125.0.2\tweb\nfd00:77::2\tweb\n")
    lookup = world.freight("run", "--rm", "--network", "v6", "busybox", "nslookup", "-type=aaaa", "web", check=True)
    assert "fd00:77::2" in lookup.stdout
    world.freight("run", "-d", "--name", "late", "busybox", "sleep", "60", check=True)
    world.freight("network", "connect", "v6", "late", check=True)
    late = json.loads(world.freight("inspect", "late", check=True).stdout)[0]["NetworkSettings"]["Networks"]["v6"]
    assert late["GlobalIPv6Address"].startswith("fd00:77::")
    assert f"inet6 {late['GlobalIPv6Address']}/64" in world.freight("exec", "late", "ip", "-6", "addr", "show", "eth1",
                                                                     check=True).stdout
    assert world.freight("exec", "late", "ping", "-c", "1", "-W", "2", "fd00:77::2").returncode == 0
    fixed = world.freight("run", "--rm", "--network", "v6", "--ip6", "fd00:77::99", "busybox", "ip", "-6", "addr",
                          "show", "eth0", check=True).stdout
    assert "inet6 fd00:77::99/64" in fixed
    for address, message in (("fd00:77::2", "Address already in use"),
                             ("fd00:99::1", "no configured subnet contains IP address fd00:99::1")):
        refused = world.freight("run", "--rm", "--network", "v6", "--ip6", address, "busybox", "true")
        assert refused.returncode != 0 and message in refused.stderr, refused.stderr
    world.freight("network", "disconnect", "v6", "late", check=True)
    world.freight("network", "connect", "--ip6", "fd00:77::98", "v6", "late", check=True)
    assert "inet6 fd00:77::98/64" in world.freight("exec", "late", "ip", "-6", "addr", "show", "eth1",
                                                   check=True).stdout
    world.freight("rm", "-f", "web", "late", check=True)
    refused = world.freight("network", "create", "--ipv6", "--subnet", "fd00:77::/80", "again")
    assert (refused.returncode, refused.stderr) == (
        1, "Error response from daemon: Pool overlaps with other one on this address space\n")
    assert world.settled() == {}
