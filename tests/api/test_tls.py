"""The service on TCP: only with TLS, and only to clients with a certificate its CA signed
(Docker's ``--tlsverify``)."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
from pathlib import Path

from apilib import start_service
from testlib import free_port, require_tool, run_freight, wait_until

from freight.store import Store


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(folder: Path) -> Path:
    """A CA, the service's certificate for 127.0.0.1 and a client's, as Docker names them."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
             "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=folder)
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}-key.pem",
                 "-out", f"{name}.csr", cwd=folder)
        (folder / f"{name}.ext").write_text(extra + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=folder)
    client = folder / "client-config"
    client.mkdir()
    for source, target in (("ca.pem", "ca.pem"), ("client.pem", "cert.pem"), ("client-key.pem", "key.pem")):
        (client / target).write_bytes((folder / source).read_bytes())
    return client


def _answer_without_certificate(port: int, ca: Path) -> bytes:
    """What the service answers a ping over TLS from a client with no certificate (TLS 1.3
    refuses it at the first read)."""
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            conn.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            return conn.recv(100)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return b""


def test_tcp_needs_tls_and_a_client_certificate(busybox_store: Store, tmp_path: Path) -> None:
    require_tool("openssl", "openssl")
    docker = require_tool("docker", "docker-cli")
    refused = run_freight(busybox_store.root, "system", "service", "--tcp", "127.0.0.1:1")
    assert refused.returncode == 1 and "--tcp needs --tlscert" in refused.stderr
    client = _certificates(tmp_path)
    port = free_port()
    proc = start_service(busybox_store.root, tmp_path / "s.sock", "--timeout", "0", "--tcp", f"127.0.0.1:{port}",
                         "--tlscert", str(tmp_path / "server.pem"), "--tlskey", str(tmp_path / "server-key.pem"),
                         "--tlscacert", str(tmp_path / "ca.pem"))
    try:
        env = {**os.environ, "DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": "1",
               "DOCKER_CERT_PATH": str(client)}

        def listed() -> subprocess.CompletedProcess[str]:
            return subprocess.run([docker, "images", "--format", "{{.Repository}}"], env=env, capture_output=True,
                                  text=True, timeout=30)

        assert wait_until(lambda: listed().stdout == "busybox\n")
        assert _answer_without_certificate(port, tmp_path / "ca.pem") == b""
    finally:
        proc.terminate()
        proc.wait(timeout=20)
