"""Helpers for the API service's tests: ``freight system service`` on a socket of the
test's, and an HTTP connection over a unix socket (the ``service`` fixture is in
tests/api/conftest.py).

Containers outlive the service (they belong to their monitors), so the fixture
removes what a test left with the freight CLI once the service is stopped.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

from testlib import freight_process, require_tool, run_freight, wait_until


class UnixConnection(http.client.HTTPConnection):
    """HTTP over the service's unix socket (for requests no client sends: bad ones)."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


class Service:
    def __init__(self, root: Path, sock: Path, proc: subprocess.Popen[bytes], docker: str) -> None:
        self.root = root
        self.docker_path = docker
        self.sock = sock
        self.proc = proc
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_BUILDKIT": "0"}

    def docker(self, *args: str, input: str | None = None, check: bool = True,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The docker CLI against the service."""
        result = subprocess.run([self.docker_path, *args], env=self.env, input=input, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def compose(self, project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """docker-compose against the service, on the project ``proj`` in the folder ``project``."""
        result = subprocess.run([require_tool("docker-compose", "docker-compose"), "-p", "proj", *args], cwd=project,
                                env=self.env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """One raw request: the status and the JSON answer (None when it is empty)."""
        conn = UnixConnection(str(self.sock))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        return response.status, json.loads(data) if data.strip() else None

    def freight(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_freight(self.root, *args)


def start_service(root: Path, sock: Path, *extra: str) -> subprocess.Popen[bytes]:
    proc = freight_process(root, "system", "service", "--socket", str(sock), *extra,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert wait_until(lambda: sock.exists() or proc.poll() is not None, timeout=20)
    assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
    return proc
