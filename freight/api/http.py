"""One HTTP/1.1 connection of the service: requests parsed by httptools (llhttp, C), answered
by a handler.

A handler gets a ``Call``: the request (method, path, query, headers, a body it
reads whole or as a file) and the ways Docker's API answers: a JSON body
(``json``), a streamed body (``start`` then ``send``: chunked), or the
connection itself (``hijack``: ``101 UPGRADED`` and a raw stream both ways, as
``attach`` and ``exec start`` answer; the connection is the handler's from then
on and closes when it returns).
"""

from __future__ import annotations

import http
import json
import select
import socket
import urllib.parse
from collections import deque

import httptools

from freight.record import Record

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from freight.store import Store

_READ_SIZE = 65536
_MAX_HEADERS = 1 << 20


class Disconnected(Exception):
    """The client went away in the middle of a request or a streamed answer."""


class HttpError(Exception):
    """An answer other than success: the status and Docker's ``{"message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Call:
    """One request on a connection, and its answer."""

    def __init__(self, conn: Connection, request: Request) -> None:
        self._conn = conn
        self.method = request.method
        path, _, query = request.target.partition("?")
        self.path = urllib.parse.unquote(path)
        self.query = urllib.parse.parse_qs(query, keep_blank_values=True) if query else {}
        self.headers = request.headers
        connection = self.headers.get("connection", "").lower()
        self.upgrade = "upgrade" in connection
        self.keep_alive = "close" not in connection if request.version == "1.1" else "keep-alive" in connection
        self.args: dict[str, str] = {}
        self.api_version = "1.51"
        self.started = False
        self.finished = False  # the whole answer was sent
        self.hijacked: socket.socket | None = None
        self._chunked = request.version == "1.1"  # a streamed answer's framing (else: until the close)
        self._body_done = False
        self._deferred: str | None = None

    # ------------------------------------------------------------ the request

    @property
    def store(self) -> Store:
        """The store (the serving thread's own connection to it)."""
        return self._conn.open_store()

    def param(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter as Docker reads it ("1", "true", ...; absent: default)."""
        value = self.param(name, "")
        if value == "":
            return default
        return value.lower() not in ("0", "false", "no")

    def number(self, name: str, default: int | None = None) -> int | None:
        value = self.param(name, "")
        if value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise HttpError(400, f'invalid value for "{name}": "{value}"') from None

    def json_param(self, name: str) -> Any:
        """A query parameter that holds JSON (``filters``, ``buildargs``, ``labels``)."""
        value = self.param(name, "")
        if not value:
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise HttpError(400, f"invalid {name} parameter: {value}") from None

    def chunks(self) -> Callable[[], bytes]:
        """A reader of the body, a chunk at a time (b"" at its end)."""
        def read() -> bytes:
            if self._body_done:
                return b""
            self._conn.continue_if_asked()
            event = self._conn.next_event()
            if isinstance(event, bytes):
                return event
            self._body_done = True
            if event is _END:
                return b""
            raise Disconnected()
        return read

    def body(self) -> bytes:
        read = self.chunks()
        parts = []
        while chunk := read():
            parts.append(chunk)
        return b"".join(parts)

    def body_json(self) -> Any:
        data = self.body()
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError as err:
            raise HttpError(400, f"invalid JSON: {err}") from None

    def finish_body(self) -> None:
        """Read what is left of the body, so that the next request can follow."""
        read = self.chunks()
        while read():
            pass

    # ------------------------------------------------------------ the answer

    def client_gone(self) -> bool:
        """Whether the client closed the connection (checked while a long answer waits)."""
        sock = self._conn.sock
        if hasattr(sock, "pending"):  # TLS: no peeking; the next write finds out
            return False
        try:
            if not select.select([sock], [], [], 0)[0]:
                return False
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def json(self, value: Any, status: int = 200) -> None:
        self.respond(status, json.dumps(value).encode() + b"\n", "application/json")

    def respond(self, status: int, data: bytes = b"", content_type: str | None = None,
                headers: dict[str, str] | None = None) -> None:
        fields = {**(headers or {}), "Content-Length": str(len(data))}
        if content_type:
            fields["Content-Type"] = content_type
        self._conn.write(self._head(status, fields) + (data if self.method != "HEAD" else b""))
        self.started = self.finished = True

    def start(self, content_type: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Begin a streamed (chunked) answer; ``send`` its parts."""
        fields = {**(headers or {}), "Content-Type": content_type}
        if self._chunked:
            fields["Transfer-Encoding"] = "chunked"
        else:  # an HTTP/1.0 client: the body ends with the connection
            self.keep_alive = False
        self._conn.write(self._head(status, fields))
        self.started = True

    def start_at_first_send(self, content_type: str) -> None:
        """Begin a streamed answer once there is something to send (so that a failure before
        that is answered with its HTTP status, as Docker answers a pull that cannot begin)."""
        self._deferred = content_type

    def send(self, data: bytes) -> None:
        if self._deferred is not None:
            content_type, self._deferred = self._deferred, None
            self.start(content_type)
        if data and self.method != "HEAD":
            self._conn.write(b"%x\r\n%b\r\n" % (len(data), data) if self._chunked else data)

    def send_json(self, value: Any) -> None:
        self.send(json.dumps(value).encode() + b"\n")

    def end(self) -> None:
        self.send(b"")
        if self._chunked and self.method != "HEAD":
            self._conn.write(b"0\r\n\r\n")
        self.finished = True

    def hijack(self, content_type: str) -> tuple[socket.socket, bytes]:
        """Answer ``101 UPGRADED`` (or, to a client that asked for no upgrade, 200) and take
        the connection: the socket, and what the client already sent past the request."""
        status = "101 UPGRADED" if self.upgrade else "200 OK"
        fields = {"Content-Type": content_type}
        if self.upgrade:
            fields.update({"Connection": "Upgrade", "Upgrade": "tcp"})
        return self.take(status, fields)

    def take(self, status: str, fields: dict[str, str]) -> tuple[socket.socket, bytes]:
        """Answer ``status`` with ``fields`` and take the connection (see ``hijack``)."""
        self.finish_body()
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        head += f"Api-Version: {self.api_version}\r\n\r\n"
        sock = self._conn.sock
        sock.sendall(head.encode())
        self.started = True
        self.hijacked = sock
        return sock, self._conn.trailing()

    def _head(self, status: int, fields: dict[str, str]) -> bytes:
        """The status line and header fields of an answer (ours and those every answer has)."""
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        for name, value in fields.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name} would split the answer: {value!r}")
            lines.append(f"{name}: {value}")
        lines += [f"Api-Version: {self.api_version}", "Docker-Experimental: false", "Ostype: linux",
                  "Server: freight", *([] if self.keep_alive else ["Connection: close"]), "", ""]
        return "\r\n".join(lines).encode("latin-1")


_REASONS = {status.value: status.phrase for status in http.HTTPStatus}


def _reason(status: int) -> str:
    return _REASONS.get(status, "")


class Request(Record):
    """A request's head: its method, target, HTTP version and header fields (lower-case names)."""

    method: str
    target: str
    version: str
    headers: dict[str, str]


_END = object()  # the end of a request's body, among a connection's events


class _Parsed:
    """httptools' callbacks, as events in arrival order: a ``Request``, its body's parts
    (bytes) and ``_END``. A head past ``_MAX_HEADERS`` bytes is refused (431)."""

    def __init__(self) -> None:
        self.events: deque[object] = deque()
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[str, str] = {}
        self._size = 0
        self.too_large = False  # a head past _MAX_HEADERS stopped the parser

    def on_message_begin(self) -> None:
        self._url, self._headers, self._size = b"", {}, 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._grow(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        self._grow(len(name) + len(value))

    def on_headers_complete(self) -> None:
        p = self.parser
        self.events.append(Request(p.get_method().decode(), self._url.decode("latin-1"), p.get_http_version(),
                                   self._headers))

    def on_body(self, body: bytes) -> None:
        self.events.append(bytes(body))

    def on_message_complete(self) -> None:
        self.events.append(_END)

    def _grow(self, size: int) -> None:
        self._size += size
        if self._size > _MAX_HEADERS:
            self.too_large = True
            raise httptools.HttpParserError("request header fields too large")


class Connection:
    """Requests parsed from a blocking socket, and the answers written to it.

    A request that asks for an upgrade (``attach``, ``exec start``) stops the parser at the
    end of its head (llhttp leaves what follows to the caller): its body (``Content-Length``)
    is read raw, and what the client sent past it is the start of the raw stream
    (``trailing``) for the handler that takes the connection."""

    def __init__(self, sock: socket.socket, open_store: Callable[[], Store]) -> None:
        self.sock = sock
        self.open_store = open_store
        self._parsed = _Parsed()
        self._raw: bytes | None = None  # past an upgrade request's head: what the parser left
        self._raw_left = 0  # of that request's body
        self._continue = False  # the current request waits for "100 Continue"

    def next_event(self) -> object:
        """The next ``Request``, body part (bytes) or ``_END``; None once the client closed."""
        events = self._parsed.events
        while not events:
            if self._raw is not None:
                return self._raw_body()
            data = self._recv()
            if not data:
                return None
            try:
                self._parsed.parser.feed_data(data)
            except httptools.HttpParserUpgrade as upgrade:
                self._begin_raw(data[upgrade.args[0]:])
        event = events.popleft()
        if isinstance(event, Request):
            self._continue = event.headers.get("expect", "").lower() == "100-continue"
        elif isinstance(event, bytes):
            self._continue = False
        return event

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(_READ_SIZE)
        except OSError:
            return b""

    def _begin_raw(self, rest: bytes) -> None:
        """The parser stopped after an upgrade request's head: its body is read raw from ``rest``."""
        events = self._parsed.events
        if events and events[-1] is _END:
            events.pop()  # told before its body, which the parser left unread
        request = next(e for e in reversed(events) if isinstance(e, Request))
        try:
            self._raw_left = int(request.headers.get("content-length") or 0)
        except ValueError:
            raise httptools.HttpParserError("invalid Content-Length") from None
        self._raw = rest

    def _raw_body(self) -> object:
        assert self._raw is not None
        if not self._raw_left:
            return _END
        if not self._raw:
            self._raw = self._recv()
            if not self._raw:
                return None
        part, self._raw = self._raw[:self._raw_left], self._raw[self._raw_left:]
        self._raw_left -= len(part)
        return part

    def write(self, data: bytes) -> None:
        """Send ``data`` in one write (an answer's head and body reach the client together)."""
        try:
            self.sock.sendall(data)
        except OSError:
            raise Disconnected() from None

    def continue_if_asked(self) -> None:
        """``100 Continue`` to a client that waits for it before it sends the body."""
        if self._continue and not self._parsed.events:
            self._continue = False
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def trailing(self) -> bytes:
        return self._raw or b""

    def serve(self, handle: Callable[[Call], None]) -> None:
        """Answer requests until the client closes (or a request takes the connection)."""
        while True:
            try:
                event = self.next_event()
            except httptools.HttpParserError as err:
                self._refuse(err)
                return
            if not isinstance(event, Request):
                return
            call = Call(self, event)
            handle(call)
            if call.hijacked is not None:
                return
            try:
                call.finish_body()
            except (Disconnected, httptools.HttpParserError):
                return
            if not (call.finished and call.keep_alive) or self._raw is not None:
                return  # an upgrade not taken leaves the parser where it cannot go on

    def _refuse(self, err: httptools.HttpParserError) -> None:
        status = 431 if self._parsed.too_large else 400
        message = "request header fields too large" if self._parsed.too_large else str(err)
        body = json.dumps({"message": message}).encode()
        try:
            self.write(f"HTTP/1.1 {status} {_reason(status)}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        except Disconnected:
            pass
