"""Registry client faults: broken downloads resume, wrong bytes are refused, killed pushes leave nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from imagelib import make_image, sha256_digest, tar_of
from testlib import QuietHandler, freight_process, run_freight, serve_http, stop_http, wait_until

from freight.image import reference
from freight.image.canonical import canonical_json
from freight.registry.pull import pull
from freight.registry.push import push
from freight.store import Store, open_store


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


@pytest.mark.parametrize("server", ["freight", "cncf"])
def test_broken_download_resumes_with_range(server: str, registry, store: Store, tmp_path: Path) -> None:
    host = registry(server)
    image = make_image(store, [{"noise": os.urandom(3 << 20)}], [f"{host}/big:v1"])
    push(store, f"{host}/big:v1")
    proxy = Proxy(host, drop_after=1 << 20, drops=2)
    try:
        other = open_store(tmp_path / "other")
        got = pull(other, f"{proxy.host}/big:v1")
    finally:
        proxy.close()
    assert proxy.dropped == 2
    assert proxy.range_requests >= 1  # resumed, not restarted
    assert got.id == image.id
    assert other.blobs.verify(got.layers[0]["digest"])
    assert list(other.blobs.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("chunk_size", [0, 1 << 20])
def test_broken_upload_is_retried(chunk_size: int, registry, store: Store, tmp_path: Path) -> None:
    host = registry("freight")
    proxy = Proxy(host, drop_upload_after=1 << 20, drops=1)
    try:
        ref = f"{proxy.host}/up:v1"
        image = make_image(store, [{"noise": os.urandom(3 << 20)}], [ref])
        digest = push(store, ref, chunk_size=chunk_size)
    finally:
        proxy.close()
    assert proxy.dropped == 1
    got = pull(open_store(tmp_path / "other"), f"{host}/up:v1")
    assert got.id == image.id and got.manifest_digest == digest


class StaticRegistry:
    """A read-only registry of one image (``bad:latest``) that ignores Range requests.

    ``corrupt`` serves other bytes (of the right length) for the layer; ``cut_first``
    ends the first layer response halfway through, closing the connection.
    """

    def __init__(self, corrupt: bool = False, cut_first: bool = False) -> None:
        layer = tar_of({"payload": os.urandom(256 * 1024)})
        config = canonical_json({"architecture": "amd64", "os": "linux",
                                 "rootfs": {"type": "layers",
                                            "diff_ids": [sha256_digest(layer)]}})
        self.layer_digest = sha256_digest(layer)
        self.config_digest = sha256_digest(config)
        manifest = canonical_json({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": self.config_digest, "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": self.layer_digest, "size": len(layer)}]})
        layer_path = f"/v2/bad/blobs/{self.layer_digest}"
        routes = {"/v2/": (b"{}", "application/json"),
                  "/v2/bad/manifests/latest": (manifest, "application/vnd.oci.image.manifest.v1+json"),
                  f"/v2/bad/blobs/{self.config_digest}": (config, "application/octet-stream"),
                  layer_path: (os.urandom(len(layer)) if corrupt else layer, "application/octet-stream")}
        self.layer_requests: list[str | None] = []  # the Range header of each layer GET
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


def test_resume_against_a_server_without_range_starts_over(store: Store) -> None:
    server = StaticRegistry(cut_first=True)
    try:
        image = pull(store, f"{server.host}/bad:latest")
    finally:
        server.close()
    assert server.layer_requests[0] is None and server.layer_requests[1].startswith("bytes=")
    assert len(server.layer_requests) == 2  # the full 200 answer to the ranged GET was used
    assert image.layers[0]["digest"] == server.layer_digest
    assert store.blobs.verify(server.layer_digest)


def test_blob_with_wrong_bytes_is_rejected(store: Store) -> None:
    server = StaticRegistry(corrupt=True)
    try:
        result = run_freight(store.root, "pull", f"{server.host}/bad:latest")
    finally:
        server.close()
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "digest mismatch" in line and server.layer_digest in line
    assert store.images.all() == []
    assert not store.blobs.has(server.layer_digest)
    assert list(store.blobs.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("server", ["freight", "cncf"])
def test_push_killed_midway_leaves_no_manifest(server: str, registry, store: Store) -> None:
    host = registry(server)
    proxy = Proxy(host, rate=2 << 20)
    slow_ref = f"{proxy.host}/app:v1"
    image = make_image(store, [{"noise": os.urandom(8 << 20)}], [slow_ref])
    store.images.tag(image.id, reference.parse(f"{host}/app:v1"))
    try:
        proc = freight_process(store.root, "push", slow_ref, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: proxy.upstream_bytes >= (1 << 20) or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, "the push finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        proxy.close()
    response = httpx.get(f"http://{host}/v2/app/manifests/v1",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert response.status_code == 404
    retry = run_freight(store.root, "push", f"{host}/app:v1")
    assert retry.returncode == 0, retry.stderr
    digest = retry.stdout.splitlines()[-1].split()[2]
    response = httpx.get(f"http://{host}/v2/app/manifests/v1",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert response.status_code == 200
    assert sha256_digest(response.content) == digest
    assert json.loads(response.content)["layers"][0]["mediaType"].endswith("+gzip")


def test_layer_that_is_not_its_diff_id_is_refused(registry, store: Store, tmp_path: Path) -> None:
    """A layer whose content differs from the config's diff_id must not become that snapshot."""
    import gzip

    from freight.image.canonical import descriptor
    from freight.image.digest import sha256_bytes
    from freight.registry.client import Registry

    host = registry("freight")
    honest = make_image(store, [{"etc/motd": b"honest\n"}], ["local/honest:v1"])
    evil_tar = store.blobs.read(make_image(store, [{"etc/motd": b"evil\n"}], ["local/evil:v1"]).layers[0]["digest"])
    layer = gzip.compress(evil_tar, mtime=0)
    config = canonical_json({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": honest.diff_ids}})
    manifest = canonical_json({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": descriptor("application/vnd.oci.image.config.v1+json",
                                                    sha256_bytes(config), len(config)),
                               "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip",
                                                     sha256_bytes(layer), len(layer))]})
    with Registry(host) as reg:
        reg.ping()
        for blob in (layer, config):
            path = tmp_path / "blob"
            path.write_bytes(blob)
            reg.upload_blob("liar", sha256_bytes(blob), len(blob), lambda: path.open("rb"))
        reg.put_manifest("liar", "v1", manifest, "application/vnd.oci.image.manifest.v1+json")
    other = open_store(tmp_path / "other")
    result = run_freight(other.root, "pull", f"{host}/liar:v1")
    assert result.returncode == 1
    assert "does not match the image configuration" in result.stderr
    assert other.images.all() == []
    assert other.snapshots.names_on_disk() == set()
    assert not other.snapshots.exists(honest.chain_ids[0])
