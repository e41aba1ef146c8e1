"""The registry client's HTTP layer (``freight.registry.connections``) against small servers.

Each server is a ``ThreadingHTTPServer`` on 127.0.0.1 that records what it was sent:
redirects must not carry credentials to another host, kept-alive connections are
reused (and replaced when the server closed them while idle), proxies from the
environment are used unless ``NO_PROXY`` names the host, and a proxy's credentials go
to the proxy only, never through its HTTPS tunnel to the registry. Blob downloads through
them are stored whole however they are synced along the way.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from registries import self_signed_cert
from testlib import QuietHandler, serve_http, stop_http

from freight.image.digest import sha256_bytes
from freight.registry.client import SYNC_EVERY, Registry
from freight.registry.connections import Connections, Unreachable
from freight.store import Store

Answer = Callable[[BaseHTTPRequestHandler], None]


class Server:
    """Answers every request with ``answer``; keeps (path, headers, client port) of each.

    ``tls``: serve HTTPS with it.
    """

    def __init__(self, answer: Answer, tls: ssl.SSLContext | None = None) -> None:
        self.seen: list[tuple[str, dict[str, str], int]] = []
        server = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                server.seen.append((self.path, dict(self.headers), self.client_address[1]))
                answer(self)

        self.httpd = serve_http(Handler, tls)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        stop_http(self.httpd)


def _send(body: bytes, status: int = 200, headers: dict[str, str] | None = None,
          close: bool = False) -> Answer:
    """An answer; ``close``: then drop the connection without saying so (as an idle timeout does)."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = close
    return answer


@pytest.fixture
def servers() -> Iterator[Callable[[Answer], Server]]:
    started: list[Server] = []

    def start(answer: Answer, tls: ssl.SSLContext | None = None) -> Server:
        started.append(Server(answer, tls))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_redirect_to_another_host_drops_the_credentials(servers, no_proxy_env: None) -> None:
    target = servers(_send(b"blob bytes"))
    origin = servers(_send(b"", 307, {"Location": f"{target.url}/data?sig=1"}))
    http = Connections(10, insecure=True)
    response = http.send("GET", f"{origin.url}/v2/app/blobs/x", {"Authorization": "Bearer t"}, stream=True)
    assert response.status_code == 200 and b"".join(response.iter_raw()) == b"blob bytes"
    assert origin.seen[0][1].get("Authorization") == "Bearer t"
    assert target.seen[0][0] == "/data?sig=1" and "Authorization" not in target.seen[0][1]
    http.close()


def test_kept_alive_connection_is_reused(servers, no_proxy_env: None) -> None:
    server = servers(_send(b"{}"))
    http = Connections(10, insecure=True)
    for _ in range(3):
        assert http.send("GET", f"{server.url}/v2/", {}).read() == b"{}"
    assert len({port for _, _, port in server.seen}) == 1
    http.close()


def test_connection_the_server_closed_while_idle_is_replaced(servers, no_proxy_env: None) -> None:
    server = servers(_send(b"{}", close=True))
    http = Connections(10, insecure=True)
    for _ in range(3):
        assert http.send("GET", f"{server.url}/v2/", {}).json() == {}
    assert len({port for _, _, port in server.seen}) == 3
    http.close()


def test_requests_go_through_the_proxy_unless_no_proxy_names_the_host(
        servers, no_proxy_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = servers(_send(b"direct"))
    proxy = servers(_send(b"proxied"))
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    http = Connections(10, insecure=True)
    assert http.send("GET", f"{registry.url}/v2/", {}).read() == b"proxied"
    assert proxy.seen[0][0] == f"{registry.url}/v2/"  # a proxy is asked for the whole URL
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert Connections(10, insecure=True).send("GET", f"{registry.url}/v2/", {}).read() == b"direct"


class TunnelProxy:
    """An HTTP proxy that answers ``CONNECT`` and relays the bytes; keeps the headers of each CONNECT."""

    def __init__(self) -> None:
        self.connects: list[dict[str, str]] = []
        proxy = self

        class Handler(QuietHandler):
            def do_CONNECT(self) -> None:  # noqa: N802
                proxy.connects.append(dict(self.headers))
                host, _, port = self.path.rpartition(":")
                with socket.create_connection((host, int(port))) as upstream:
                    self.send_response(200)
                    self.end_headers()
                    _relay(self.connection, upstream)
                self.close_connection = True

        self.httpd = serve_http(Handler)
        self.url = f"http://user:secret@127.0.0.1:{self.httpd.server_address[1]}"


def _relay(a: socket.socket, b: socket.socket) -> None:
    while True:
        for ready in select.select([a, b], [], [], 10)[0]:
            data = ready.recv(65536)
            if not data:
                return
            (b if ready is a else a).sendall(data)


def test_proxy_credentials_go_to_the_proxy_not_through_the_tunnel(
        servers, no_proxy_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    registry = servers(_send(b"over the tunnel"), tls)
    proxy = TunnelProxy()
    try:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        assert Connections(10, insecure=True).send("GET", f"{registry.url}/v2/", {}).read() == b"over the tunnel"
    finally:
        stop_http(proxy.httpd)
    assert proxy.connects[0]["Proxy-Authorization"] == "Basic dXNlcjpzZWNyZXQ="  # user:secret
    assert "Proxy-Authorization" not in registry.seen[0][1]


def test_a_body_cut_short_is_unreachable(servers, no_proxy_env: None) -> None:
    def short(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.write(b"only part")
        handler.close_connection = True

    server = servers(short)
    response = Connections(10, insecure=True).send("GET", f"{server.url}/blob", {}, stream=True)
    with pytest.raises(Unreachable, match="unexpected EOF"):
        b"".join(response.iter_raw())


def test_nothing_listening_is_unreachable(no_proxy_env: None) -> None:
    server = Server(_send(b""))
    server.close()  # the port is free again
    with pytest.raises(Unreachable, match=f'Get "{server.url}/v2/": connection refused'):
        Connections(10, insecure=True).send("GET", f"{server.url}/v2/", {})


def test_a_download_bigger_than_the_sync_piece_is_stored_whole(servers, no_proxy_env: None,
                                                               store: Store) -> None:
    """Blob downloads sync (and drop from the page cache) every SYNC_EVERY bytes as they come."""
    data = os.urandom(SYNC_EVERY * 2 + 12345)
    digest = sha256_bytes(data)
    server = servers(_send(data))
    with Registry(server.url.removeprefix("http://")) as registry:
        registry.ping()
        assert registry.download_blob("app", digest, len(data), store.blobs) == digest
    assert store.blobs.read(digest) == data and list(store.blobs.tmp_dir.iterdir()) == []
