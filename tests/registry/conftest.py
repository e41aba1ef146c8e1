"""Registry servers on 127.0.0.1 for tests, and a small OCI image to push through them.

Fixtures (each server gets a free port and its own storage under a temporary folder, and
is stopped by PID when the fixture ends):

* ``registry_server`` (session): one shared ``python -m freight.registry.server``; tests
  that share it use their own repository names.
* ``start_registry``: a factory, ``start_registry(*extra_args, root=None, tls=False)``,
  for servers with options (``"--htpasswd", path``, ``"--read-only"``,
  ``"--upload-timeout", "1"``). It returns a ``RegistryProcess`` with ``url``, ``host``
  (``127.0.0.1:PORT``), ``root``, ``log`` and ``stop()``/``kill()``; calling it again with
  the same ``root`` restarts on that storage.
* ``cncf_registry``: the CNCF registry (``/usr/bin/docker-registry serve CONFIG``) with
  filesystem storage and deletes enabled, as a ``RegistryProcess`` (skips without it).
* ``oci_image``: (folder, manifest digest) of an OCI image layout (one gzipped layer tar,
  tag ``latest``) made by ``make_oci_layout(folder, files)``.

Helpers: ``skopeo_copy(src, dst, *flags)`` runs ``skopeo copy`` with TLS verification off
on both sides (skips without skopeo) and returns the CompletedProcess; ``launch(cmd, url,
root, log)`` starts any registry command and waits for its /v2/; ``cncf_config(root,
port)`` writes the CNCF registry's YAML; ``self_signed_cert(folder)`` makes a certificate
for 127.0.0.1.
"""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from imagelib import sha256_digest, tar_of
from testlib import free_port

from freight.image.mediatypes import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST


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


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 made with openssl (skips without it)."""
    openssl = shutil.which("openssl") or pytest.skip("needs openssl (Debian package openssl)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def start_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RegistryProcess]]:
    started: list[RegistryProcess] = []

    def start(*extra: str, root: Path | None = None, tls: bool = False) -> RegistryProcess:
        folder = tmp_path_factory.mktemp("freight-registry")
        root = root or folder / "storage"
        port = free_port()
        cmd = [sys.executable, "-m", "freight.registry.server", "--addr", f"127.0.0.1:{port}",
               "--root", str(root), *extra]
        if tls:
            cert, key = self_signed_cert(folder)
            cmd += ["--tls-cert", str(cert), "--tls-key", str(key)]
        scheme = "https" if tls else "http"
        server = launch(cmd, f"{scheme}://127.0.0.1:{port}", root, folder / "server.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    folder = tmp_path_factory.mktemp("shared-registry")
    port = free_port()
    cmd = [sys.executable, "-m", "freight.registry.server", "--addr", f"127.0.0.1:{port}",
           "--root", str(folder / "storage")]
    server = launch(cmd, f"http://127.0.0.1:{port}", folder / "storage", folder / "server.log")
    yield server
    server.stop()


def cncf_config(root: Path, port: int) -> str:
    lines = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
             "storage:", "  filesystem:", f"    rootdirectory: {root}",
             "  delete:", "    enabled: true", "http:", f"  addr: 127.0.0.1:{port}"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def cncf_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    binary = shutil.which("docker-registry") or pytest.skip(
        "needs docker-registry (Debian package docker-registry)")
    folder = tmp_path_factory.mktemp("cncf-registry")
    port = free_port()
    config = folder / "config.yml"
    config.write_text(cncf_config(folder / "storage", port))
    server = launch([binary, "serve", str(config)], f"http://127.0.0.1:{port}",
                     folder / "storage", folder / "server.log")
    yield server
    server.stop()


def make_oci_layout(folder: Path, files: dict[str, bytes], tag: str = "latest") -> str:
    """Write a one-layer OCI image layout into folder; returns the manifest digest."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = sha256_digest(data)
        (blobs / digest[7:]).write_bytes(data)
        return digest

    layer = gzip.compress(tar_of(files), mtime=0)
    diff_id = sha256_digest(gzip.decompress(layer))
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": put(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": put(layer), "size": len(layer)}],
    }).encode()
    digest = put(manifest)
    (folder / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (folder / "index.json").write_text(json.dumps({
        "schemaVersion": 2,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }))
    return digest


@pytest.fixture
def oci_image(tmp_path: Path) -> tuple[Path, str]:
    """(OCI layout folder, manifest digest) of a small one-layer image tagged latest."""
    folder = tmp_path / "oci-image"
    digest = make_oci_layout(folder, {"etc/hello": b"hello\n", "bin/data": bytes(range(256)) * 64})
    return folder, digest


def skopeo_copy(src: str, dst: str, *flags: str) -> subprocess.CompletedProcess[str]:
    skopeo = shutil.which("skopeo") or pytest.skip("needs skopeo (Debian package skopeo)")
    return subprocess.run([skopeo, "--insecure-policy", "copy", "--src-tls-verify=false",
                           "--dest-tls-verify=false", *flags, src, dst],
                          capture_output=True, text=True, timeout=120)
