"""``network create -o`` (Docker's bridge driver options) and ``--attachable``: recorded, shown
by ``inspect`` as Docker shows them, and applied to the network's bridge, containers and
firewall (tests run in namespaces of their own: ``networld``)."""

from __future__ import annotations

import json

from networld import HOST_IP, OUTSIDE_IP, World, ip

from freight.store import Store

SERVE = "mkdir /www && echo hi from $(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def _get(world: World, network: str, url: str) -> str:
    result = world.freight("run", "--rm", "--init", "--network", network, "busybox", "timeout", "5", "wget", "-q",
                           "-O", "-", url)
    return result.stdout if result.returncode == 0 else "failed"


def test_bridge_name_mtu_attachable_and_unknown_options(busybox_store: Store, world: World) -> None:
    world.freight("network", "create", "-o", "com.docker.network.bridge.name=optbr0", "-o",
                  "com.docker.network.driver.mtu=1400", "-o", "vendor.thing=1", "--attachable", "app", check=True)
    info = json.loads(world.freight("network", "inspect", "app", check=True).stdout)[0]
    assert info["Attachable"] is True
    assert info["Options"] == {"com.docker.network.bridge.name": "optbr0", "com.docker.network.driver.mtu": "1400",
                               "vendor.thing": "1"}
    assert "mtu 1400" in ip("link", "show", "optbr0", netns=world.host)
    mtu = world.freight("run", "--rm", "--network", "app", "busybox", "cat", "/sys/class/net/eth0/mtu", check=True)
    assert mtu.stdout == "1400\n"
    taken = world.freight("network", "create", "-o", "com.docker.network.bridge.name=optbr0", "again")
    assert taken.returncode == 1 and "bridge name optbr0 is taken" in taken.stderr
    uplink = world.freight("network", "create", "-o", "com.docker.network.bridge.name=up0", "again")
    assert uplink.returncode == 1 and "bridge name up0 is taken" in uplink.stderr
    assert "up0" in ip("-o", "link", "show", netns=world.host)  # the world's uplink is untouched
    for option, message in (("com.docker.network.driver.mtu=abc", 'parsing "abc": invalid syntax'),
                            ("com.docker.network.driver.mtu=20", "invalid MTU number: 20"),
                            ("com.docker.network.bridge.host_binding_ipv4=nope", "invalid IP address: nope"),
                            ("com.docker.network.bridge.name=far-too-long-a-name", "invalid bridge name")):
        refused = world.freight("network", "create", "-o", option, "bad")
        assert refused.returncode == 1 and message in refused.stderr, (option, refused.stderr)
        assert refused.stderr.count("\n") == 1
    assert "bad" not in world.freight("network", "ls", "--format", "{{.Name}}", check=True).stdout
    assert world.freight("network", "rm", "app", check=True).stdout == "app\n"
    assert "optbr0" not in ip("-o", "link", "show", netns=world.host)
    assert world.settled() == {}


def test_without_masquerade_outbound_traffic_gets_no_answer(busybox_store: Store, world: World) -> None:
    world.freight("network", "create", "-o", "com.docker.network.bridge.enable_ip_masquerade=false", "plain",
                  check=True)
    world.freight("network", "create", "nat", check=True)
    assert _get(world, "nat", f"http://{OUTSIDE_IP}/hello.txt") == "hello from outside\n"
    assert _get(world, "plain", f"http://{OUTSIDE_IP}/hello.txt") == "failed"  # the outside has no route back
    assert world.settled() == {}


def test_without_icc_containers_of_a_network_cannot_reach_each_other(busybox_store: Store, world: World) -> None:
    world.freight("network", "create", "-o", "com.docker.network.bridge.enable_icc=false", "apart", check=True)
    world.freight("run", "-d", "--name", "web", "--hostname", "web", "--network", "apart", "busybox", "sh", "-c",
                  SERVE, check=True)
    address = json.loads(world.freight("inspect", "web", check=True).stdout)[0]["NetworkSettings"]["Networks"][
        "apart"]["IPAddress"]
    assert world.run_in(world.host, "timeout", "5", "wget", "-q", "-O", "-", f"http://{address}/").stdout == \
        "hi from web\n"  # the host (the gateway) still reaches it
    lookup = world.freight("run", "--rm", "--network", "apart", "busybox", "nslookup", "-type=a", "web", check=True)
    assert f"Address: {address}" in lookup.stdout  # the network's DNS answers (the gateway is not a container)
    assert _get(world, "apart", "http://web/") == "failed"
    assert _get(world, "apart", f"http://{OUTSIDE_IP}/hello.txt") == "hello from outside\n"
    world.freight("rm", "-f", "web", check=True)
    assert world.settled() == {}


def test_host_binding_ipv4_is_where_ports_without_an_address_bind(busybox_store: Store, world: World) -> None:
    world.freight("network", "create", "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1", "local",
                  check=True)
    world.freight("run", "-d", "--name", "web", "--hostname", "web", "--network", "local", "-p", "8080:80",
                  "busybox", "sh", "-c", SERVE, check=True)
    assert world.freight("port", "web", check=True).stdout == "80/tcp -> 127.0.0.1:8080\n"
    get = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode(), end='')"
    assert world.run_in(world.host, "python3", "-c", get, "http://127.0.0.1:8080/").stdout == "hi from web\n"
    assert world.run_in(world.out, "python3", "-c", get, f"http://{HOST_IP}:8080/").returncode != 0
    world.freight("rm", "-f", "web", check=True)
    assert world.settled() == {}
