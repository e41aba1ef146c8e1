"""network: -p parsing, loopback in a new netns, and the port proxy against a real netns."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from testlib import free_port

from freight.errors import Conflict, InvalidArgument
from freight.runtime import network, ports
from freight.runtime.portproxy import PortProxy
from freight.runtime.ports import PortBinding

# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("80", [PortBinding(80)]),
        ("8080:80", [PortBinding(80, "tcp", "", 8080)]),
        ("127.0.0.1:8080:80/udp", [PortBinding(80, "udp", "127.0.0.1", 8080)]),
        ("127.0.0.1::80", [PortBinding(80, "tcp", "127.0.0.1", 0)]),
        ("8000-8001:80-81/TCP", [PortBinding(80, "tcp", "", 8000), PortBinding(81, "tcp", "", 8001)]),
        ("80-81", [PortBinding(80), PortBinding(81)]),
        ("8000-8010:80", [PortBinding(80, "tcp", "", 8000, 8010)]),
        ("[::1]:8080:80", [PortBinding(80, "tcp", "::1", 8080)]),
        ("published=8080,target=80,protocol=udp", [PortBinding(80, "udp", "", 8080)]),
    ],
)
def test_parse_publish(spec: str, expected: list[PortBinding]) -> None:
    assert ports.parse_publish(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("abc", "Invalid containerPort: abc"),
        ("8080:abc", "Invalid containerPort: abc"),
        ("70000", "Invalid containerPort: 70000"),
        ("x:80", "Invalid hostPort: x"),
        ("1.2.3.256:80:80", "Invalid ip address: 1.2.3.256"),
        ("80/xyz", "Invalid proto: xyz"),
        ("8000-8002:80-81", "Invalid ranges specified for container and host Ports: 80-81 and 8000-8002"),
        ("8080:", "No port specified: 8080:<empty>"),
        ("published=8080,target", "invalid publish opts format (should be name=value but got 'target')"),
    ],
)
def test_parse_publish_errors(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        ports.parse_publish(spec)
    assert str(info.value) == message


def test_expose_all_skips_published_ports() -> None:
    published = ports.parse_publish("127.0.0.1:8080:80")
    assert ports.expose_all(["80/tcp", "53/udp", "8443"], published) == [
        PortBinding(53, "udp"), PortBinding(8443, "tcp")]


def test_ports_json_and_port_lines() -> None:
    bindings = [PortBinding(80, "tcp", "127.0.0.1", 8080), PortBinding(53, "udp", "", 5353),
                PortBinding(80, "tcp", "::1", 8081)]
    assert ports.ports_json(bindings, exposed=["443/tcp", "80/tcp"]) == {
        "443/tcp": None,
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}, {"HostIp": "::1", "HostPort": "8081"}],
        "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
    }
    assert ports.port_lines(bindings) == [
        "80/tcp -> 127.0.0.1:8080", "53/udp -> 0.0.0.0:5353", "80/tcp -> [::1]:8081"]


def test_network_modes() -> None:
    assert network.parse_network_mode("") == network.DEFAULT
    assert network.parse_network_mode("bridge") == network.DEFAULT
    assert network.parse_network_mode("none") == network.NONE
    assert network.parse_network_mode("host") == network.HOST
    assert network.parse_network_mode("foo") == "foo"  # a user-defined network, checked at create
    with pytest.raises(InvalidArgument):
        network.parse_network_mode("container:")


# ---------------------------------------------------------------- a real network namespace

SERVER = r"""
import socket, sys, threading
from freight.runtime.child import loopback_up

def loopback_works():
    with socket.socket() as listener, socket.socket() as client:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        return client.connect_ex(listener.getsockname()) == 0

state = "lo-was-up" if loopback_works() else "lo-was-down"
loopback_up()
assert loopback_works()

def echo(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            break
        conn.sendall(data)
    conn.close()

def serve_tcp(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(16)
    def loop():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()

for port in (80, 81):
    serve_tcp(port)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 80))
print("ready", state, flush=True)
while True:
    data, peer = udp.recvfrom(65536)
    udp.sendto(b"udp:" + data, peer)
"""


@pytest.fixture
def netns_pid() -> Iterator[int]:
    """A process in a new network namespace serving TCP 80/81 and UDP 80 (echo)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace")
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs util-linux unshare")
    proc = subprocess.Popen([unshare, "--net", sys.executable, "-c", SERVER],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.split() == ["ready", "lo-was-down"], line
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.fixture
def proxy_for(netns_pid: int) -> Iterator:
    proxies: list[PortProxy] = []

    def make(*specs: str) -> PortProxy:
        bindings = [b for spec in specs for b in ports.parse_publish(spec)]
        proxy = PortProxy(f"/proc/{netns_pid}/ns/net", bindings)
        proxies.append(proxy)
        proxy.start()
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


def _exchange(port: int, payload: bytes) -> bytes:
    """Send ``payload`` while reading the echo, then half-close and read the rest."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        def send() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        sender = threading.Thread(target=send)
        sender.start()
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
        sender.join()
    return bytes(received)


def test_tcp_both_ways(proxy_for) -> None:
    port = free_port()
    proxy = proxy_for(f"127.0.0.1:{port}:80/tcp")
    assert proxy.bindings == [PortBinding(80, "tcp", "127.0.0.1", port)]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for word in (b"ping", b"pong", b"again"):
            sock.sendall(word)
            assert sock.recv(100) == word
    big = os.urandom(3 << 20)
    assert _exchange(port, big) == big


def test_tcp_concurrent_connections(proxy_for) -> None:
    port = free_port()
    proxy_for(f"127.0.0.1:{port}:80")
    results: dict[int, bytes] = {}

    def client(n: int) -> None:
        results[n] = _exchange(port, bytes([n]) * 200_000)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: bytes([n]) * 200_000 for n in range(8)}


def test_udp_both_ways(proxy_for) -> None:
    port = free_port(socket.SOCK_DGRAM)
    proxy_for(f"127.0.0.1:{port}:80/udp")
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        for n, sock in enumerate(clients):
            sock.settimeout(5)
            for word in (b"hello", b"again"):
                sock.sendto(word + bytes([48 + n]), ("127.0.0.1", port))
                assert sock.recv(100) == b"udp:" + word + bytes([48 + n])
    finally:
        for sock in clients:
            sock.close()


def test_random_host_port(proxy_for) -> None:
    proxy = proxy_for("127.0.0.1::80")
    (binding,) = proxy.bindings
    assert binding.host_port > 0 and binding.host_ip == "127.0.0.1"
    assert _exchange(binding.host_port, b"random") == b"random"
    assert ports.ports_json(proxy.bindings) == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(binding.host_port)}]}


def test_unpublished_port_is_unreachable(proxy_for) -> None:
    port = free_port()
    proxy_for(f"127.0.0.1:{port}:80")
    assert _exchange(port, b"published") == b"published"
    for container_port in (80, 81):  # both listen in the container, on 0.0.0.0
        if _port_is_free(container_port):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", container_port), timeout=5)


def test_stop_closes_the_host_port(proxy_for) -> None:
    port = free_port()
    proxy = proxy_for(f"127.0.0.1:{port}:80")
    assert _exchange(port, b"x") == b"x"
    proxy.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    proxy.stop()


def test_closed_container_port_closes_the_client(proxy_for) -> None:
    port = free_port()
    proxy_for(f"127.0.0.1:{port}:9999")  # nothing listens on 9999 in the container
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert sock.recv(10) == b""


def test_port_in_use_fails_before_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        used = taken.getsockname()[1]
        other = free_port()
        proxy = PortProxy(None, ports.parse_publish(f"127.0.0.1:{other}:81")
                          + ports.parse_publish(f"127.0.0.1:{used}:80"))
        with pytest.raises(Conflict) as info:
            proxy.bind()
        assert str(info.value) == f"Bind for 127.0.0.1:{used} failed: port is already allocated"
        assert info.value.exit_code == 125
        assert _port_is_free(other)  # the binding made before the failure was released


def test_host_port_range_picks_afree_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        used = taken.getsockname()[1]
        if not _port_is_free(used + 1):
            pytest.skip("the next port is taken on this host")
        proxy = PortProxy(None, ports.parse_publish(f"127.0.0.1:{used}-{used + 1}:80"))
        proxy.bind()
        try:
            assert [b.host_port for b in proxy.bindings] == [used + 1]
        finally:
            proxy.stop()


def test_start_without_a_namespace_fails() -> None:
    proxy = PortProxy("/proc/self/ns/does-not-exist", ports.parse_publish("127.0.0.1::80"))
    try:
        with pytest.raises(Exception, match="cannot open /proc/self/ns/does-not-exist"):
            proxy.start()
    finally:
        proxy.stop()
