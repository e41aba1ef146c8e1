"""Debian's docker-compose (1.29, the Python one, on docker-py) against the service: a
two-service project with a named volume and a published port, up to down -v with
nothing left. Both services are on Docker's default ``bridge`` network
(``network_mode: bridge``), so that the published port is reached from the test's own
namespace; the project network compose makes by default, and reaching a service by its
name there, are tested in test_networks.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

from apilib import Service
from testlib import free_port, http_get, run_freight

_PROJECT = """\
version: "3"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo served > /www/index.html; echo web up; exec httpd -f -p 8080 -h /www"]
    network_mode: bridge
    ports: ["127.0.0.1:{port}:8080"]
    volumes: ["site:/www"]
  client:
    image: busybox
    network_mode: bridge
    command: ["sh", "-c", "echo client up; exec sleep 60"]
volumes:
  site: {{}}
"""


def test_compose_up_ps_logs_exec_down(service: Service, tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "docker-compose.yml").write_text(_PROJECT.format(port=port))

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        return service.compose(tmp_path, *args)

    compose("up", "-d")
    assert http_get(port) == "served\n"
    rows = compose("ps").stdout.splitlines()[2:]
    assert sorted(row.split()[0] for row in rows) == ["proj_client_1", "proj_web_1"]
    assert all(" Up " in row for row in rows)
    logs = compose("logs", "--no-color").stdout
    assert "client up" in logs and "web up" in logs
    assert compose("exec", "-T", "client", "echo", "inside").stdout == "inside\n"
    assert "proj_site" in service.docker("volume", "ls", "-q").stdout
    compose("down", "-v")
    assert run_freight(service.root, "ps", "-aq").stdout == ""
    assert "proj_site" not in service.docker("volume", "ls", "-q").stdout
