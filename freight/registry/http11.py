"""HTTP/1.1 on one socket: what the registry client needs, without ``http.client``.

``http.client`` imports the ``email`` package (and ``ssl``) to parse headers,
about 40 ms of every ``freight pull`` or ``push`` before its first request;
this module parses the little HTTP the client speaks itself. ``connect`` opens
a socket (through a proxy's ``CONNECT`` tunnel, wrapped in TLS when asked);
``Connection.request`` sends a request, its body either bytes (with their
length), a ``FilePart`` (with its length, through ``sendfile(2)`` where the
socket is not TLS: no copy through Python), or pieces (chunked, unless the
caller gave a ``Content-Length``), and reads the status line and headers;
the ``Answer`` then hands out the body as it
comes, framed by ``Content-Length``, chunked transfer coding, or the end of
the connection.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterable

if TYPE_CHECKING:
    import ssl

MAX_LINE = 65536
PIECE = 1 << 20  # a FilePart goes in sendfile calls of this size, each reported to its progress
MAX_HEADERS = 100
_SMALL = 64 << 10  # bodies up to this size go in one send with the head
_BODYLESS = ("POST", "PUT", "PATCH")  # methods that say Content-Length: 0 when they send nothing


class ProtocolError(Exception):
    """An answer that is not HTTP/1.x, or one whose framing is broken."""


class Closed(ConnectionError):
    """The server closed the connection without answering (usually a kept-alive one it timed out)."""


class FilePart:
    """``count`` bytes of an open file from ``offset``: a body that owns (and closes) the file."""

    def __init__(self, file: BinaryIO, offset: int, count: int,
                 progress: Callable[[int], None] = lambda n: None) -> None:
        self.file, self.offset, self.count, self.progress = file, offset, count, progress

    def send(self, sock: socket.socket) -> None:
        """Send it all; a file that turns out shorter raises OSError."""
        with self.file:
            sent = 0
            while sent < self.count:
                n = sock.sendfile(self.file, self.offset + sent, min(PIECE, self.count - sent))
                if n == 0:
                    raise OSError("a file shrank while it was being sent")
                sent += n
                self.progress(n)


class Headers(dict[str, str]):
    """Header fields by lower-case name (the first of repeated ones), looked up in any case."""

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)


def connect(host: str, port: int, *, timeout: float, connect_timeout: float,
            tls: ssl.SSLContext | None = None, tunnel: tuple[str, int] | None = None,
            tunnel_headers: dict[str, str] | None = None) -> Connection:
    """A connection to ``host:port``, or to ``tunnel`` through the proxy at ``host:port``."""
    sock = socket.create_connection((host, port), connect_timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tunnel is not None:
            _open_tunnel(sock, tunnel, tunnel_headers or {})
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=tunnel[0] if tunnel else host)
        sock.settimeout(timeout)
    except BaseException:
        sock.close()
        raise
    return Connection(sock)


def _open_tunnel(sock: socket.socket, target: tuple[str, int], headers: dict[str, str]) -> None:
    where = f"{_bracketed(target[0])}:{target[1]}"
    sock.sendall(_head(f"CONNECT {where} HTTP/1.1", {"Host": where, **headers}))
    with sock.makefile("rb") as reader:  # the proxy sends nothing past its answer before TLS starts
        _, status, reason, _ = _read_head(reader)
    if status != 200:
        raise OSError(f"proxy tunnel to {where} refused: {status} {reason}")


class Connection:
    """One kept-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = sock.makefile("rb")

    def request(self, method: str, target: str, headers: dict[str, str],
                body: bytes | FilePart | Iterable[bytes] | None = None) -> Answer:
        """Send a request and read the answer's head (skipping any 1xx)."""
        fields = dict(headers)
        given = {name.lower() for name in fields}
        chunked = False
        if isinstance(body, FilePart):
            fields.setdefault("Content-Length", str(body.count))
        elif isinstance(body, bytes) or (body is None and method in _BODYLESS):
            fields.setdefault("Content-Length", str(len(body or b"")))
        elif body is not None and "content-length" not in given:
            fields["Transfer-Encoding"] = "chunked"
            chunked = True
        head = _head(f"{method} {target} HTTP/1.1", fields)
        if isinstance(body, bytes) and len(body) <= _SMALL:
            self.sock.sendall(head + body)
        else:
            self.sock.sendall(head)
            if isinstance(body, FilePart):
                body.send(self.sock)
            elif body is not None:
                self._send_body([body] if isinstance(body, bytes) else body, chunked)
        while True:
            version, status, reason, answer_headers = _read_head(self._reader)
            if status >= 200:
                return Answer(self._reader, method, version, status, reason, answer_headers)

    def _send_body(self, pieces: Iterable[bytes], chunked: bool) -> None:
        for piece in pieces:
            if not piece:
                continue  # an empty chunk would end a chunked body
            if chunked:
                self.sock.sendall(b"%x\r\n" % len(piece))
            self.sock.sendall(piece)
            if chunked:
                self.sock.sendall(b"\r\n")
        if chunked:
            self.sock.sendall(b"0\r\n\r\n")

    def close(self) -> None:
        self._reader.close()
        self.sock.close()


class Answer:
    """A response whose head was read; ``read`` gives its body piece by piece."""

    def __init__(self, reader: BinaryIO, method: str, version: str, status: int, reason: str,
                 headers: Headers) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self._reader = reader
        tokens = (headers.get("Connection") or "").lower()
        self.will_close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
        self._chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        self._chunk_left = 0
        self.length: int | None = None  # body bytes still to come, when known
        self.cut = False  # the connection ended inside the body
        if method == "HEAD" or status in (204, 304):
            self.length, self._chunked = 0, False
        elif not self._chunked:
            self.length = _content_length(headers)
            self.will_close = self.will_close or self.length is None  # read until the end
        self.done = self.length == 0

    @property
    def incomplete(self) -> bool:
        """Whether the connection ended before the body did."""
        return self.cut or bool(self.length and not self.done)

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of the body; b"" at its end (or where the connection ended)."""
        if self.done or self.cut:
            return b""
        if self._chunked:
            return self._read_chunked(size)
        data = self._reader.read(size if self.length is None else min(size, self.length))
        if self.length is not None:
            self.length -= len(data)
        self.done = not data if self.length is None else self.length == 0
        self.cut = not data and not self.done
        return data

    def _read_chunked(self, size: int) -> bytes:
        if self._chunk_left == 0:
            line = self._reader.readline(MAX_LINE)
            if not line:
                self.cut = True
                return b""
            try:
                self._chunk_left = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError(f"invalid chunk size line {line[:40]!r}") from None
            if self._chunk_left == 0:
                _read_fields(self._reader)  # trailers
                self.done = True
                return b""
        data = self._reader.read(min(size, self._chunk_left))
        self._chunk_left -= len(data)
        if not data:
            self.cut = True
        elif self._chunk_left == 0:
            self._reader.readline(MAX_LINE)  # the CRLF after the chunk
        return data


def _content_length(headers: Headers) -> int | None:
    value = headers.get("Content-Length")
    if value is None:
        return None
    try:
        length = int(value.split(",")[0])
    except ValueError:
        raise ProtocolError(f"invalid Content-Length {value!r}") from None
    if length < 0:
        raise ProtocolError(f"invalid Content-Length {value!r}")
    return length


def _head(start: str, fields: dict[str, str]) -> bytes:
    return (start + "\r\n" + "".join(f"{name}: {value}\r\n" for name, value in fields.items())
            + "\r\n").encode("latin-1")


def _read_head(reader: BinaryIO) -> tuple[str, int, str, Headers]:
    """The status line and header fields of an answer."""
    line = reader.readline(MAX_LINE)
    if not line:
        raise Closed("remote end closed connection without response")
    version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ProtocolError(f"invalid status line {line[:60]!r}")
    return version, int(code), reason, _read_fields(reader)


def _read_fields(reader: BinaryIO) -> Headers:
    headers = Headers()
    for _ in range(MAX_HEADERS):
        line = reader.readline(MAX_LINE)
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    raise ProtocolError(f"more than {MAX_HEADERS} header fields")


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
