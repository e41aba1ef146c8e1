"""``GET /containers/{id}/attach/ws``: attach over a websocket (RFC 6455), as browsers and
IDE consoles do.

Output goes as text frames, as dockerd's websocket sends it (raw, never multiplexed);
the client's frames (masked, as a client's must be) are the container's input; a close
frame ends the input.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct

from freight.api.http import Call, HttpError
from freight.api.streams import Channel, attach_client
from freight.runtime.containers import get

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


def _frame(opcode: int, data: bytes) -> bytes:
    size = len(data)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + data


class WebSocket(Channel):
    """A websocket as the attach's channel."""

    def __init__(self, sock: socket.socket, early: bytes) -> None:
        super().__init__(sock, True)
        self._buffer = early

    def send(self, stream: str, data: bytes) -> None:
        self.sock.sendall(_frame(_TEXT, data))

    def receive(self) -> bytes | None:
        chunk = self.sock.recv(65536)
        if not chunk:
            return b""
        self._buffer += chunk
        out = b""
        while (parsed := self._next_frame()) is not None:
            opcode, payload = parsed
            if opcode == _CLOSE:
                self.sock.sendall(_frame(_CLOSE, payload[:2]))
                return out or b""
            if opcode == _PING:
                self.sock.sendall(_frame(_PONG, payload))
            elif opcode in (0x0, 0x1, 0x2):
                out += payload
        return out or None

    def _next_frame(self) -> tuple[int, bytes] | None:
        """The first whole frame in the buffer (unmasked), taken off it; None until one is whole."""
        buf = self._buffer
        if len(buf) < 2:
            return None
        opcode, size, at = buf[0] & 0x0F, buf[1] & 0x7F, 2
        if size == 126:
            if len(buf) < 4:
                return None
            size, at = struct.unpack("!H", buf[2:4])[0], 4
        elif size == 127:
            if len(buf) < 10:
                return None
            size, at = struct.unpack("!Q", buf[2:10])[0], 10
        mask = b""
        if buf[1] & 0x80:
            mask, at = buf[at:at + 4], at + 4
        if len(buf) < at + size:
            return None
        payload = buf[at:at + size]
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._buffer = buf[at + size:]
        return opcode, payload


def attach_websocket(call: Call) -> None:
    c = get(call.store, call.args["id"])
    key = call.headers.get("sec-websocket-key", "")
    if call.headers.get("upgrade", "").lower() != "websocket" or not key:
        raise HttpError(400, "a websocket upgrade is required")
    accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    taken: list[WebSocket] = []

    def take() -> tuple[Channel, bytes]:
        sock, early = call.take("101 Switching Protocols", {"Upgrade": "websocket", "Connection": "Upgrade",
                                                            "Sec-WebSocket-Accept": accept})
        taken.append(WebSocket(sock, early))  # it reads the early input as frames
        return taken[0], b""

    attach_client(call, c, take)
    try:
        taken[0].sock.sendall(_frame(_CLOSE, struct.pack("!H", 1000)))
    except OSError:
        pass


ROUTES = [
    ("GET", "/containers/{id}/attach/ws", attach_websocket),
]
