"""One HTTP/1.1 connection of the service: requests parsed by h11, answered by a handler.

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

import h11

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

    def __init__(self, conn: Connection, request: h11.Request) -> None:
        self._conn = conn
        self.method = request.method.decode()
        target = request.target.decode()
        path, _, query = target.partition("?")
        self.path = urllib.parse.unquote(path)
        self.query = urllib.parse.parse_qs(query, keep_blank_values=True)
        self.headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
        self.upgrade = "upgrade" in self.headers.get("connection", "").lower()
        self.args: dict[str, str] = {}
        self.api_version = "1.51"
        self.started = False
        self.hijacked: socket.socket | None = None
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
            if isinstance(event, h11.Data):
                return bytes(event.data)
            self._body_done = True
            if isinstance(event, h11.EndOfMessage):
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
        events: list[h11.Response | h11.Data] = [h11.Response(status_code=status, headers=self._headers(fields),
                                                             reason=_reason(status))]
        if data and self.method != "HEAD":
            events.append(h11.Data(data=data))
        self._conn.send(*events, h11.EndOfMessage())
        self.started = True

    def start(self, content_type: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Begin a streamed (chunked) answer; ``send`` its parts."""
        fields = {**(headers or {}), "Content-Type": content_type}
        self._conn.send(h11.Response(status_code=status, headers=self._headers(fields), reason=_reason(status)))
        self.started = True

    def start_at_first_send(self, content_type: str) -> None:
        """Begin a streamed answer once there is something to send (so that a failure before
        that is answered with its HTTP status, as Docker answers a pull that cannot begin)."""
        self._deferred = content_type

    def send(self, data: bytes) -> None:
        if self._deferred is not None:
            content_type, self._deferred = self._deferred, None
            self.start(content_type)
        if data:
            self._conn.send(h11.Data(data=data))

    def send_json(self, value: Any) -> None:
        self.send(json.dumps(value).encode() + b"\n")

    def end(self) -> None:
        self.send(b"")
        self._conn.send(h11.EndOfMessage())

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

    def _headers(self, fields: dict[str, str]) -> list[tuple[str, str]]:
        return [*fields.items(), ("Api-Version", self.api_version), ("Docker-Experimental", "false"),
                ("Ostype", "linux"), ("Server", "freight")]


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


class Connection:
    """h11's state machine over a blocking socket."""

    def __init__(self, sock: socket.socket, open_store: Callable[[], Store]) -> None:
        self.sock = sock
        self.open_store = open_store
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEADERS)

    def next_event(self) -> Any:
        while True:
            event = self._h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                data = self.sock.recv(_READ_SIZE)
            except OSError:
                data = b""
            self._h11.receive_data(data)

    def send(self, *events: Any) -> None:
        """Send ``events`` in one write (an answer's head and body reach the client together)."""
        data = b"".join(self._h11.send(event) or b"" for event in events)
        if data:
            try:
                self.sock.sendall(data)
            except OSError:
                raise Disconnected() from None

    def continue_if_asked(self) -> None:
        """``100 Continue`` to a client that waits for it before it sends the body."""
        if self._h11.they_are_waiting_for_100_continue:
            self.send(h11.InformationalResponse(status_code=100, headers=[]))

    def trailing(self) -> bytes:
        return bytes(self._h11.trailing_data[0])

    def serve(self, handle: Callable[[Call], None]) -> None:
        """Answer requests until the client closes (or a request takes the connection)."""
        while True:
            try:
                event = self.next_event()
            except h11.RemoteProtocolError as err:
                self._refuse(err)
                return
            if not isinstance(event, h11.Request):
                return
            call = Call(self, event)
            handle(call)
            if call.hijacked is not None:
                return
            try:
                call.finish_body()
            except (Disconnected, h11.RemoteProtocolError):
                return
            if self._h11.our_state is not h11.DONE or self._h11.their_state is not h11.DONE:
                return
            self._h11.start_next_cycle()

    def _refuse(self, err: h11.RemoteProtocolError) -> None:
        if self._h11.our_state is h11.IDLE or self._h11.our_state is h11.SEND_RESPONSE:
            body = json.dumps({"message": str(err)}).encode()
            try:
                self.send(h11.Response(status_code=err.error_status_hint, headers=[
                    ("Content-Type", "application/json"), ("Content-Length", str(len(body)))]))
                self.send(h11.Data(data=body))
                self.send(h11.EndOfMessage())
            except (Disconnected, h11.LocalProtocolError):
                pass
