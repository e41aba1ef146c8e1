"""Published ports reach a server inside the container's own network namespace."""

from __future__ import annotations

import json
import socket

from testlib import http_get

from freight.runtime import containers
from freight.store import Store

SERVER = "mkdir /www; echo hello-web > /www/index.html; httpd -f -p 8080 -h /www"


def test_publish_detached_records_real_port_and_releases_it(runtime_store: Store, cli) -> None:
    cid = cli("run", "-d", "-p", "127.0.0.1::8080", "busybox", "sh", "-c", SERVER, check=True).stdout.strip()
    ports = containers.get(runtime_store, cid).record["NetworkSettings"]["Ports"]
    host_port = int(ports["8080/tcp"][0]["HostPort"])
    assert ports["8080/tcp"][0]["HostIp"] == "127.0.0.1" and host_port > 0
    assert http_get(host_port) == "hello-web\n"
    inspected = json.loads(cli("inspect", cid, check=True).stdout)[0]
    assert inspected["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"] == str(host_port)
    cli("rm", "-f", cid, check=True)
    with socket.socket() as probe:  # the proxy let the port go (TIME_WAIT aside)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", host_port))
        probe.listen()


def test_port_in_use_fails_before_anything_runs(runtime_store: Store, cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    assert result.returncode == 125
    assert runtime_store.db.execute("SELECT COUNT(*) FROM containers").fetchone()[0] == 0


def test_publish_all_maps_exposed_ports(runtime_store: Store, cli) -> None:
    cid = cli("run", "-d", "-P", "--expose", "8080", "busybox", "sh", "-c", SERVER, check=True).stdout.strip()
    ports = containers.get(runtime_store, cid).record["NetworkSettings"]["Ports"]
    (binding,) = ports["8080/tcp"]
    assert binding["HostIp"] == "0.0.0.0" and int(binding["HostPort"]) > 0
    assert http_get(int(binding["HostPort"])) == "hello-web\n"


def test_command_that_exits_before_the_proxy_starts_is_not_an_error(runtime_store: Store, cli) -> None:
    # `true` often exits before the port proxy opens /proc/PID/ns/net: that is a normal run.
    for _ in range(15):
        result = cli("run", "--rm", "-p", "127.0.0.1::80", "busybox", "true")
        assert (result.returncode, result.stderr) == (0, "")
