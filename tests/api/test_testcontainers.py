"""testcontainers against ``freight system service``: a container with an exposed port and a
wait strategy starts, is reached and is removed."""

from __future__ import annotations

import socket

import pytest
from apilib import Service
from testcontainers.core.config import ConnectionMode, testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import LogMessageWaitStrategy


def test_a_docker_container_starts_is_reached_and_removed(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{service.sock}")
    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)  # its reaper is an image from Docker Hub
    # the containers' ports are published on this machine (which may itself be a container)
    monkeypatch.setattr(testcontainers_config, "connection_mode_override", ConnectionMode.docker_host)
    server = (DockerContainer("busybox")
              .with_command(["sh", "-c", "echo hello > /tmp/page; echo ready; exec httpd -f -p 8080 -h /tmp"])
              .with_exposed_ports(8080)
              .waiting_for(LogMessageWaitStrategy("ready")))
    with server:
        host, port = server.get_container_host_ip(), int(server.get_exposed_port(8080))
        with socket.create_connection((host, port), timeout=10) as conn:
            conn.sendall(b"GET /page HTTP/1.0\r\n\r\n")
            answer = b"".join(iter(lambda: conn.recv(4096), b""))
        assert answer.startswith(b"HTTP/1.") and answer.endswith(b"\r\n\r\nhello\n")
    assert service.docker("ps", "-aq").stdout == ""
