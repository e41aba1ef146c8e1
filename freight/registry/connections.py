"""HTTP/1.1 for the registry client, over the standard library's ``http.client``.

Connections are kept alive and reused per scheme and host, from any thread; a
request that fails on a reused connection (the server closed it while idle)
goes again on a fresh one. Redirects are followed, ``Authorization`` only to
the host first asked. HTTPS verifies with the system's trust store, or not at
all for insecure registries. ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``
and ``NO_PROXY`` are honoured (plain-HTTP proxies; HTTPS goes through a
``CONNECT`` tunnel). Bodies are read as they come (``iter_raw``) or whole.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlencode, urljoin, urlsplit

from freight.errors import FreightError
from freight.registry.auth import Credentials

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import ssl
    from typing import Any

CHUNK = 1 << 20
CONNECT_TIMEOUT = 15.0
MAX_REDIRECTS = 10
_REDIRECTS = (301, 302, 303, 307, 308)
_FAILURES = (OSError, http.client.HTTPException)

Body = Callable[[], "bytes | Iterator[bytes]"]  # a factory, so a body can be sent again


class RegistryError(FreightError):
    """A registry refused or could not be reached; ``docker pull/push`` exit 1 for these."""

    exit_code = 1


class Unreachable(RegistryError):
    """A connection that could not be made or broke off: worth another try."""


def reason(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return re.sub(r"^\[Errno -?\d+\]\s*", "", text).lower().replace("name or service not known", "no such host")


def with_params(url: str, params: dict[str, str] | list[tuple[str, str]] | None) -> str:
    """``url`` with ``params`` added to its query (an upload Location keeps its own)."""
    if not params:
        return url
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


class Response:
    """An answer: status, headers (``get`` ignores case), and the body, whole or streamed."""

    def __init__(self, method: str, url: str, answer: http.client.HTTPResponse,
                 release: Callable[[bool], None]) -> None:
        self.method = method
        self.url = url
        self.status_code = answer.status
        self.reason_phrase = answer.reason
        self.headers = answer.headers
        self._answer = answer
        self._release: Callable[[bool], None] | None = release  # called with: reusable?
        self._content: bytes | None = None

    def read(self) -> bytes:
        if self._content is None:
            self._content = b"".join(self.iter_raw())
        return self._content

    def json(self) -> Any:
        return json.loads(self.read())

    def iter_raw(self, size: int = CHUNK) -> Iterator[bytes]:
        """The body in pieces of up to ``size`` bytes; a broken connection raises Unreachable."""
        try:
            while chunk := self._answer.read(size):
                yield chunk
        except _FAILURES as err:
            self.close()
            raise Unreachable(f'{self.method.title()} "{self.url}": {reason(err)}') from None
        if self._answer.length:  # http.client ends a cut-off body quietly
            self.close()
            raise Unreachable(f'{self.method.title()} "{self.url}": unexpected EOF')
        self.close()

    def close(self) -> None:
        """Done with it: the connection goes back to the pool if the body was read, else shut."""
        if self._release is not None:
            release, self._release = self._release, None
            done = self._answer.isclosed()
            self._answer.close()
            release(done and not self._answer.will_close)


class _Proxy:
    """Where a request to one scheme and host really connects."""

    def __init__(self, scheme: str, netloc: str) -> None:
        self.netloc = netloc
        self.headers: dict[str, str] = {}
        self.absolute = False  # plain HTTP through a proxy asks for the whole URL
        proxy = _proxy_url(scheme, netloc)
        if proxy is not None:
            parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
            if parts.scheme != "http":
                raise RegistryError(f"proxy {proxy}: only http:// proxies are supported")
            self.netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
            if parts.username is not None:
                creds = Credentials(parts.username, parts.password or "")
                self.headers = {"Proxy-Authorization": creds.basic()}
            self.absolute = scheme == "http"
        self.tunnel = netloc if proxy is not None and scheme == "https" else None


def _proxy_url(scheme: str, netloc: str) -> str | None:
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return None
    from urllib.request import getproxies_environment, proxy_bypass  # heavy, and only behind a proxy

    proxies = getproxies_environment()
    if proxy_bypass(netloc, proxies):  # on Linux, urllib's proxy_bypass_environment
        return None
    return proxies.get(scheme) or proxies.get("all")


class Connections:
    """Kept-alive connections to the hosts a registry client talks to; thread-safe."""

    def __init__(self, timeout: float, insecure: bool) -> None:
        self.timeout = timeout
        self.insecure = insecure
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
        self._routes: dict[tuple[str, str], _Proxy] = {}
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def get(self, url: str, params: list[tuple[str, str]], headers: dict[str, str]) -> Response:
        """A whole GET (the token fetch of ``Authenticator``)."""
        return self.send("GET", with_params(url, params), headers)

    def send(self, method: str, url: str, headers: dict[str, str], body: Body | None = None,
             stream: bool = False) -> Response:
        """One request, following redirects; unless ``stream``, the body is read before it returns.

        A connection that cannot be made or breaks off raises Unreachable.
        """
        first = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            sent = headers if urlsplit(url).netloc == first else \
                {k: v for k, v in headers.items() if k.lower() != "authorization"}
            response = self._exchange(method, url, sent, body)
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECTS or not location:
                if not stream:
                    response.read()
                return response
            response.close()
            url = urljoin(url, location)
            if response.status_code == 303 or (response.status_code in (301, 302) and method != "HEAD"):
                method, body = "GET", None
        raise RegistryError(f'{method.title()} "{url}": too many redirects')

    def _exchange(self, method: str, url: str, headers: dict[str, str], body: Body | None) -> Response:
        """Send once; again on a fresh connection if a reused one turned out closed."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        route = self._route(key)
        target = url if route.absolute else (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        proxy_auth = route.headers if route.absolute else {}  # a tunnel's went with its CONNECT, not to the registry
        while True:
            conn, reused = self._take(key)
            try:
                if conn is None:
                    conn = self._connect(key, route)
                conn.request(method, target, body() if body else None,
                             {"User-Agent": "freight", **proxy_auth, **headers})
                answer = conn.getresponse()
            except _FAILURES as err:
                if conn is not None:
                    conn.close()
                if reused and isinstance(err, (ConnectionError, http.client.RemoteDisconnected)):
                    continue
                raise Unreachable(f'{method.title()} "{url}": {reason(err)}') from None
            return Response(method, url, answer, functools.partial(self._give_back, key, conn))

    def _take(self, key: tuple[str, str]) -> tuple[http.client.HTTPConnection | None, bool]:
        """An idle connection to reuse (and True), else (None, False)."""
        with self._lock:
            if idle := self._idle.get(key):
                return idle.pop(), True
        return None, False

    def _give_back(self, key: tuple[str, str], conn: http.client.HTTPConnection, reusable: bool) -> None:
        if not reusable or conn.sock is None:
            conn.close()
            return
        with self._lock:
            self._idle.setdefault(key, []).append(conn)

    def _route(self, key: tuple[str, str]) -> _Proxy:
        with self._lock:
            if key not in self._routes:
                self._routes[key] = _Proxy(*key)
            return self._routes[key]

    def _connect(self, key: tuple[str, str], route: _Proxy) -> http.client.HTTPConnection:
        """A connection made now (within CONNECT_TIMEOUT), then waiting up to ``timeout`` a read."""
        conn: http.client.HTTPConnection
        if key[0] == "https":
            conn = http.client.HTTPSConnection(route.netloc, timeout=CONNECT_TIMEOUT,
                                               context=self._ssl_context())
        else:
            conn = http.client.HTTPConnection(route.netloc, timeout=CONNECT_TIMEOUT)
        if route.tunnel is not None:
            conn.set_tunnel(route.tunnel, headers=route.headers)
        try:
            conn.connect()
            conn.sock.settimeout(self.timeout)
        except BaseException:
            conn.close()
            raise
        return conn

    def _ssl_context(self) -> ssl.SSLContext:
        """The system's trust store, or no checks when insecure (then no certificates are loaded)."""
        import ssl  # heavy: only HTTPS registries load it

        with self._lock:
            if self._ssl is None:
                if self.insecure:
                    self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                    self._ssl.check_hostname = False
                    self._ssl.verify_mode = ssl.CERT_NONE
                else:
                    self._ssl = ssl.create_default_context()
            return self._ssl
