"""Published ports on container networks: forwarded by the kernel (DNAT) to the container's
address, from the host and from other containers, TCP and UDP; a server bound only to the
container's loopback is not reachable, as with Docker."""

from __future__ import annotations

import json
import subprocess

import pytest
from networld import HOST_IP, World

from freight.store import Store

SERVE = "mkdir /www && echo hi > /www/index.html && exec httpd -f -p {bind}80 -h /www"
GET = ("import sys, urllib.request\ntry:\n"
       "    print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode(), end='')\n"
       "except OSError as err:\n    print('failed:', err)")
UDP_ECHO = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', 5353))\n"
            "print('ready', flush=True)\nwhile True:\n    data, peer = s.recvfrom(100)\n    s.sendto(b'pong', peer)")
ASK_UDP = ("import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.settimeout(0.5)\n"
           "for _ in range(10):\n    s.sendto(b'ping', (sys.argv[1], 5353))\n    try:\n"
           "        print(s.recv(100).decode()); break\n    except TimeoutError:\n        pass")


def _get(world: World, netns: str, url: str) -> str:
    return world.run_in(netns, "python3", "-c", GET, url).stdout


@pytest.mark.parametrize("network", ["default", "app"])
def test_a_published_port_reaches_the_container_from_everywhere(busybox_store: Store, world: World,
                                                                 network: str) -> None:
    if network != "default":
        world.freight("network", "create", network, check=True)
    world.freight("run", "-d", "--name", "web", "--network", network, "-p", "8080:80",
                  "busybox", "sh", "-c", SERVE.format(bind=""), check=True)
    for url in ("http://127.0.0.1:8080/", f"http://{HOST_IP}:8080/"):
        assert _get(world, world.host, url) == "hi\n", url
    assert _get(world, world.out, f"http://{HOST_IP}:8080/") == "hi\n"
    other = world.freight("run", "--rm", "--init", "busybox", "timeout", "5", "wget", "-q", "-O", "-",
                          f"http://{HOST_IP}:8080/")
    assert other.stdout == "hi\n", other.stderr
    port = world.freight("port", "web", check=True).stdout
    assert "80/tcp -> 0.0.0.0:8080" in port
    world.freight("rm", "-f", "web", check=True)
    assert world.settled() == {}


def test_udp_is_published_too(busybox_store: Store, world: World) -> None:
    """busybox has no UDP server: a Python one runs in the container's network namespace."""
    world.freight("run", "-d", "--name", "box", "-p", "5353:5353/udp", "busybox", "sleep", "60", check=True)
    pid = json.loads(world.freight("inspect", "box", check=True).stdout)[0]["State"]["Pid"]
    server = subprocess.Popen(["nsenter", f"--net=/proc/{pid}/ns/net", "python3", "-c", UDP_ECHO],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline() == "ready\n"
        answer = world.run_in(world.out, "python3", "-c", ASK_UDP, HOST_IP).stdout
        assert answer == "pong\n"
    finally:
        server.kill()
        server.wait()
    world.freight("rm", "-f", "box", check=True)
    assert world.settled() == {}


def test_a_server_on_the_containers_loopback_is_not_reachable(busybox_store: Store, world: World) -> None:
    world.freight("run", "-d", "--name", "web", "-p", "8080:80", "busybox", "sh", "-c",
                  SERVE.format(bind="127.0.0.1:"), check=True)
    inside = world.freight("exec", "web", "wget", "-q", "-O", "-", "http://127.0.0.1/").stdout
    assert inside == "hi\n"  # it serves, but only inside
    assert _get(world, world.host, "http://127.0.0.1:8080/").startswith("failed")
    assert _get(world, world.out, f"http://{HOST_IP}:8080/").startswith("failed")
    world.freight("rm", "-f", "web", check=True)
    assert world.settled() == {}


def test_random_host_ports(busybox_store: Store, world: World) -> None:
    world.freight("run", "-d", "--name", "web", "-p", "80", "busybox", "sh", "-c", SERVE.format(bind=""),
                  check=True)
    ports = json.loads(world.freight("inspect", "web", check=True).stdout)[0]["NetworkSettings"]["Ports"]
    host_port = ports["80/tcp"][0]["HostPort"]
    assert _get(world, world.out, f"http://{HOST_IP}:{host_port}/") == "hi\n"
    world.freight("rm", "-f", "web", check=True)
    assert world.settled() == {}


def test_publish_all_exposed_ports(busybox_store: Store, world: World) -> None:
    world.freight("run", "-d", "--name", "web", "--expose", "80", "-P", "busybox", "sh", "-c",
                  SERVE.format(bind=""), check=True)
    line = world.freight("port", "web", "80", check=True).stdout.splitlines()[0]
    assert _get(world, world.out, f"http://{HOST_IP}:{line.rpartition(':')[2]}/") == "hi\n"
    world.freight("rm", "-f", "web", check=True)
    assert world.settled() == {}
