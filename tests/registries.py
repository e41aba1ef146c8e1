"""Registries on 127.0.0.1 for the tests (importable from any test folder as ``registries``).

``freight_registry`` starts freight's own server (``python -m freight.registry.server``) and
``cncf_registry`` the CNCF registry (``docker-registry serve``), each on a free port with its
storage in a folder of the test's; both wait until ``/v2/`` answers and return a
``RegistryProcess`` to stop. The ``start_registry`` and ``registry`` fixtures
(tests/conftest.py) start them and stop them when the test ends.

Stand-ins for the client tests: ``StaticRegistry`` serves one image, and can cut or
corrupt its layer; ``Proxy`` passes TCP through to a registry, and can cut or throttle it.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from imagelib import sha256_digest
from testlib import QuietHandler, free_port, require_tool, serve_http, stop_http, wait_until

from freight.image.canonical import canonical_json
from freight.image.mediatypes import OCI_CONFIG, OCI_LAYER, OCI_LAYER_GZIP, OCI_MANIFEST


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
        """Until ``/v2/`` answers (whatever it says); fails if the process exits first."""
        def answering() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.cmd} exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                httpx.get(self.url + "/v2/", verify=False, timeout=1.0)
                return True
            except httpx.TransportError:
                return False

        if not wait_until(answering, timeout):
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


def hash_password(password: str, rounds: int = 5) -> str:
    """A bcrypt entry for an htpasswd file ("$2b$..."), as `htpasswd -B` makes."""
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


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


class StaticRegistry:
    """A read-only registry of one image, ``REPO:latest`` of the one layer ``tar``, that ignores
    Range requests.

    The manifest names the layer gzipped with ``gzipped``; ``served`` are other bytes to serve
    for it; ``cut_first`` ends the first layer response halfway through, closing the connection.
    ``layer_requests`` holds the Range header of each layer GET.
    """

    def __init__(self, tar: bytes, repo: str = "bad", gzipped: bool = False, served: bytes | None = None,
                 cut_first: bool = False) -> None:
        layer = gzip.compress(tar, mtime=0) if gzipped else tar
        config = canonical_json({"architecture": "amd64", "os": "linux",
                                 "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]}})
        self.layer_digest = sha256_digest(layer)
        self.config_digest = sha256_digest(config)
        manifest = canonical_json({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER_GZIP if gzipped else OCI_LAYER,
                        "digest": self.layer_digest, "size": len(layer)}]})
        layer_path = f"/v2/{repo}/blobs/{self.layer_digest}"
        routes = {"/v2/": (b"{}", "application/json"),
                  f"/v2/{repo}/manifests/latest": (manifest, OCI_MANIFEST),
                  f"/v2/{repo}/blobs/{self.config_digest}": (config, "application/octet-stream"),
                  layer_path: (layer if served is None else served, "application/octet-stream")}
        self.layer_requests: list[str | None] = []
        server = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                body, kind = routes.get(self.path, (b"", ""))
                self.send_response(200 if kind else 404)
                self.send_header("Content-Type", kind or "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path == layer_path:
                    server.layer_requests.append(self.headers.get("Range"))
                    if cut_first and len(server.layer_requests) == 1:
                        self.wfile.write(body[: len(body) // 2])
                        self.close_connection = True
                        return
                self.wfile.write(body)

        self.httpd = serve_http(Handler)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        stop_http(self.httpd)


class Proxy:
    """A TCP proxy on 127.0.0.1 that can cut connections after N bytes or throttle uploads.

    ``drop_after``: abort a connection once it has carried that many bytes to the client
    (``drop_upload_after``: to the server), ``drops`` times in all. ``rate``: bytes per
    second passed on from the client.
    """

    def __init__(self, target: str, drop_after: int | None = None, drops: int = 0,
                 rate: int | None = None, drop_upload_after: int | None = None) -> None:
        self.target_port = int(target.rsplit(":", 1)[1])
        self.drop_after, self.drops_left, self.rate = drop_after, drops, rate
        self.drop_upload_after = drop_upload_after
        self.dropped = 0
        self.upstream_bytes = 0
        self.range_requests = 0
        self.loop = asyncio.new_event_loop()
        self.server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        tasks = [asyncio.create_task(self._to_server(reader, up_writer)),
                 asyncio.create_task(self._to_client(up_reader, writer, up_writer))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for w in (writer, up_writer):
            w.transport.abort()

    async def _to_server(self, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        carried = 0
        while data := await reader.read(64 * 1024):
            carried += len(data)
            if self.drop_upload_after is not None and self.drops_left and carried > self.drop_upload_after:
                self.drops_left -= 1
                self.dropped += 1
                return
            self.upstream_bytes += len(data)
            if b"\r\nrange: bytes=" in data.lower():
                self.range_requests += 1
            up.write(data)
            await up.drain()
            if self.rate:
                await asyncio.sleep(len(data) / self.rate)

    async def _to_client(self, up: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         up_writer: asyncio.StreamWriter) -> None:
        carried = 0
        while data := await up.read(64 * 1024):
            if self.drop_after is not None and self.drops_left and carried + len(data) > self.drop_after:
                writer.write(data[: self.drop_after - carried])
                await writer.drain()
                self.drops_left -= 1
                self.dropped += 1
                return
            carried += len(data)
            writer.write(data)
            await writer.drain()

    async def _shutdown(self) -> None:
        self.server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
