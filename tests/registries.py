"""Registries on 127.0.0.1 for the tests (importable from any test folder as ``registries``).

``freight_registry`` starts freight's own server (``python -m freight.registry.server``) and
``cncf_registry`` the CNCF registry (``docker-registry serve``), each on a free port with its
storage in a folder of the test's; both wait until ``/v2/`` answers and return a
``RegistryProcess`` to stop. The ``start_registry`` and ``registry`` fixtures
(tests/conftest.py) start them and stop them when the test ends.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from testlib import free_port, require_tool

from freight.registry.htpasswd import hash_password


@dataclass
class RegistryProcess:
    """A registry server process; ``url`` is its base URL (http or https)."""

    proc: subprocess.Popen[bytes]
    url: str
    root: Path
    log: Path
    cmd: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as image references name the registry."""
        return self.url.split("://", 1)[1]

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.cmd} exited {self.proc.returncode}: "
                                   f"{self.log.read_text()[-2000:]}")
            try:
                httpx.get(self.url + "/v2/", verify=False, timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.cmd} did not answer in {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def launch(cmd: list[str], url: str, root: Path, log: Path) -> RegistryProcess:
    """Start a registry command and wait until its /v2/ answers."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out)
    server = RegistryProcess(proc, url, root, log, cmd)
    try:
        server.wait_ready()
    except RuntimeError:
        server.kill()
        raise
    return server


def freight_registry(folder: Path, *extra: str, root: Path | None = None, tls: bool = False) -> RegistryProcess:
    """freight's registry server with the options ``extra``, storing in ``root`` (``folder/storage``
    unless given: a restart on the same storage), its log in ``folder``; HTTPS with ``tls``."""
    root = root or folder / "storage"
    port = free_port()
    cmd = [sys.executable, "-m", "freight.registry.server", "--addr", f"127.0.0.1:{port}", "--root", str(root),
           *extra]
    if tls:
        cert, key = self_signed_cert(folder)
        cmd += ["--tls-cert", str(cert), "--tls-key", str(key)]
    return launch(cmd, f"{'https' if tls else 'http'}://127.0.0.1:{port}", root, folder / "server.log")


def cncf_registry(folder: Path, htpasswd: Path | None = None, token: dict[str, str] | None = None) -> RegistryProcess:
    """The CNCF registry (skips without it), storing in ``folder/storage`` with deletes enabled;
    Basic auth with ``htpasswd``, token auth with ``token`` (``realm``, ``service``, ``issuer``,
    ``rootcertbundle``)."""
    binary = require_tool("docker-registry", "docker-registry")
    port = free_port()
    config = folder / "config.yml"
    config.write_text(cncf_config(folder / "storage", port, htpasswd, token))
    return launch([binary, "serve", str(config)], f"http://127.0.0.1:{port}", folder / "storage",
                  folder / "server.log")


def cncf_config(root: Path, port: int, htpasswd: Path | None = None, token: dict[str, str] | None = None) -> str:
    """The CNCF registry's YAML configuration (see ``cncf_registry``)."""
    lines = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
             "storage:", "  filesystem:", f"    rootdirectory: {root}",
             "  delete:", "    enabled: true", "http:", f"  addr: 127.0.0.1:{port}"]
    if htpasswd is not None:
        lines += ["auth:", "  htpasswd:", "    realm: test", f"    path: {htpasswd}"]
    if token is not None:
        lines += ["auth:", "  token:", *(f"    {key}: {value}" for key, value in token.items())]
    return "\n".join(lines) + "\n"


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 made with openssl (skips without it)."""
    openssl = shutil.which("openssl") or pytest.skip("needs openssl (Debian package openssl)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def write_htpasswd(path: Path, user: str, password: str) -> Path:
    """An htpasswd file of one user (bcrypt), for ``--htpasswd``."""
    path.write_text(f"{user}:{hash_password(password)}\n")
    return path


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    """``skopeo --insecure-policy ARGS`` (skips without skopeo)."""
    binary = require_tool("skopeo", "skopeo")
    return subprocess.run([binary, "--insecure-policy", *args], capture_output=True, text=True, timeout=120)


def skopeo_copy(src: str, dst: str, *flags: str) -> subprocess.CompletedProcess[str]:
    """``skopeo copy`` with TLS verification off on both sides."""
    return skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", *flags, src, dst)
