"""Networks through the service, in the test's own network namespaces (``world``): what
``docker network`` does there is what ``freight network`` sees, and the reverse."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from apilib import Service
from networld import World
from testlib import FREIGHT, freight_env, require_tool, wait_until

from freight.store import Store


@pytest.fixture
def net_service(busybox_store: Store, world: World, tmp_path: Path) -> Iterator[Service]:
    """The service in the world's ``host`` namespace, where freight makes its bridges."""
    docker = require_tool("docker", "docker-cli")
    sock = tmp_path / "freight.sock"
    proc = subprocess.Popen([*world.nsenter(world.host), str(FREIGHT), "system", "service", "--socket", str(sock),
                             "--timeout", "0"], env=freight_env(busybox_store.root),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert wait_until(lambda: sock.exists() or proc.poll() is not None, timeout=20)
    assert proc.poll() is None
    yield Service(busybox_store.root, sock, proc, docker)
    world.freight("rm", "-f", *world.freight("ps", "-aq").stdout.split())
    proc.terminate()
    assert proc.wait(timeout=20) == 0


def test_docker_network_create_ls_inspect_rm(net_service: Service, world: World) -> None:
    docker = net_service.docker
    bridge = json.loads(docker("network", "inspect", "bridge").stdout)[0]
    assert bridge == json.loads(world.freight("network", "inspect", "bridge", check=True).stdout)[0]
    nid = docker("network", "create", "--subnet", "10.99.0.0/24", "--label", "a=b", "app").stdout.strip()
    assert len(nid) == 64
    assert "app" in world.freight("network", "ls", "--format", "{{.Name}}", check=True).stdout.split()
    listed = docker("network", "ls", "--filter", "label=a=b", "--format", "{{.Name}} {{.Driver}}").stdout
    assert listed == "app bridge\n"
    assert docker("network", "ls", "-q", "--filter", "name=nomatch").stdout == ""
    info = json.loads(docker("network", "inspect", "app").stdout)[0]
    assert (info["Id"], info["IPAM"]["Config"][0]["Subnet"], info["Labels"]) == (nid, "10.99.0.0/24", {"a": "b"})
    assert docker("network", "create", "app", check=False).returncode == 1

    cid = docker("run", "-d", "--name", "web", "--network", "app", "--network-alias", "site", "--ip", "10.99.0.9",
                 "busybox", "sleep", "60").stdout.strip()
    members = json.loads(docker("network", "inspect", "app").stdout)[0]["Containers"]
    assert members[cid]["IPv4Address"] == "10.99.0.9/24"
    settings = json.loads(world.freight("inspect", "web", check=True).stdout)[0]["NetworkSettings"]["Networks"]
    assert "site" in settings["app"]["Aliases"]
    refused = docker("network", "rm", "app", check=False)
    assert refused.returncode == 1 and "has active endpoints" in refused.stderr
    docker("network", "create", "other")
    docker("network", "connect", "--alias", "again", "other", "web")
    assert cid in json.loads(docker("network", "inspect", "other").stdout)[0]["Containers"]
    assert "eth1" in world.freight("exec", "web", "ip", "-o", "-4", "addr", check=True).stdout
    docker("network", "disconnect", "other", "web")
    assert json.loads(docker("network", "inspect", "other").stdout)[0]["Containers"] == {}
    docker("rm", "-f", "web")
    docker("network", "rm", "other")

    assert docker("network", "rm", "app").stdout == "app\n"
    assert "app" not in world.freight("network", "ls", "--format", "{{.Name}}", check=True).stdout.split()
    missing = docker("network", "inspect", "app", check=False)
    assert missing.returncode == 1 and "app" in missing.stderr
    docker("network", "create", "spare")
    assert "spare" in docker("network", "prune", "-f").stdout
    assert world.settled() == {}


_PROJECT = """\
version: "3"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir /www; echo served > /www/index.html; exec httpd -f -p 8080 -h /www"]
  client:
    image: busybox
    command: ["sleep", "60"]
"""


def test_compose_project_network_reaches_a_service_by_name(net_service: Service, world: World,
                                                           tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(_PROJECT)

    def compose(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return net_service.compose(tmp_path, *args, check=check)

    compose("up", "-d")
    assert "proj_default" in world.freight("network", "ls", "--format", "{{.Name}}", check=True).stdout.split()
    assert wait_until(lambda: compose("exec", "-T", "client", "wget", "-qO-", "http://web:8080/",
                                      check=False).stdout == "served\n", timeout=10)
    compose("down", "-v")
    assert world.freight("ps", "-aq").stdout == ""
    assert "proj_default" not in world.freight("network", "ls", "--format", "{{.Name}}", check=True).stdout.split()
    assert world.settled() == {}


def test_network_errors_have_dockers_statuses(net_service: Service, world: World) -> None:
    def create(body: dict[str, object]) -> tuple[int, object]:
        return net_service.request("POST", "/networks/create", json.dumps(body).encode(),
                                   {"Content-Type": "application/json"})

    def subnet(name: str, value: str, gateway: str = "") -> tuple[int, object]:
        return create({"Name": name, "IPAM": {"Config": [{"Subnet": value, **({"Gateway": gateway} if gateway
                                                                                else {})}]}})

    for name in ("bridge", "host", "none"):
        assert net_service.request("DELETE", f"/networks/{name}") == (
            403, {"message": f"{name} is a pre-defined network and cannot be removed"})
    assert create({"Name": "host"})[0] == 403
    assert subnet("a", "10.99.0.0/24")[0] == 201
    assert subnet("b", "10.99.0.0/25") == (403, {"message": "Pool overlaps with other one on this address space"})
    for value, gateway in (("garbage", ""), ("10.99.1.0/33", ""), ("10.99.2.1/24", ""), ("10.99.3.0/24", "10.98.0.1"),
                           ("10.99.3.0/24", "nonsense")):
        status, answer = subnet("c", value, gateway)
        assert status == 400, (value, gateway, answer)
    assert create({"Name": "a"})[0] == 409
    assert create({"Name": "d", "Driver": "nope"}) == (404, {"message": 'plugin "nope" not found'})
    net_service.docker("run", "-d", "--name", "web", "--network", "a", "busybox", "sleep", "60")
    assert net_service.request("DELETE", "/networks/a")[0] == 403
    refused = net_service.docker("network", "rm", "bridge", check=False)
    assert (refused.returncode, refused.stderr) == (
        1, "Error response from daemon: bridge is a pre-defined network and cannot be removed\nexit status 1\n")
    assert net_service.request("POST", "/networks/prune?filters=" + quote(json.dumps({"bogus": ["1"]})))[0] == 400
    net_service.docker("rm", "-f", "web")
    assert world.settled() == {}


def test_network_prune_filters(net_service: Service, world: World) -> None:
    docker = net_service.docker
    docker("network", "create", "--label", "tier=a", "one")
    docker("network", "create", "two")
    assert docker("network", "prune", "-f", "--filter", "until=1h").stdout == ""
    assert docker("network", "prune", "-f", "--filter", "label!=tier").stdout == "Deleted Networks:\ntwo\n\n"
    status, answer = net_service.request("POST", "/networks/prune?filters=" + quote(json.dumps({"label": ["tier=a"]})))
    assert (status, answer) == (200, {"NetworksDeleted": ["one"]})


def test_network_options_and_attachable(net_service: Service, world: World) -> None:
    docker = net_service.docker
    docker("network", "create", "-o", "com.docker.network.driver.mtu=1400", "-o", "vendor.thing=1", "--attachable",
           "app")
    info = json.loads(docker("network", "inspect", "app").stdout)[0]
    assert info["Attachable"] is True
    assert info["Options"] == {"com.docker.network.driver.mtu": "1400", "vendor.thing": "1"}
    assert info == json.loads(world.freight("network", "inspect", "app", check=True).stdout)[0]
    refused = docker("network", "create", "-o", "com.docker.network.bridge.enable_icc=maybe", "bad", check=False)
    assert refused.returncode == 1 and "com.docker.network.bridge.enable_icc" in refused.stderr
    docker("network", "create", "--ipv6", "--subnet", "fd00:78::/64", "six")
    info = json.loads(docker("network", "inspect", "six").stdout)[0]
    assert info["EnableIPv6"] is True and {"Subnet": "fd00:78::/64", "Gateway": "fd00:78::1"} in info["IPAM"]["Config"]
    docker("network", "rm", "app", "six")
    assert world.settled() == {}
