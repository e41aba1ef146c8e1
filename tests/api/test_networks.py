"""Networks through the service, in the test's own network namespaces (``world``): what
``docker network`` does there is what ``freight network`` sees, and the reverse."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

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
