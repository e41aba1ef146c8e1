"""``GET /containers/{id}/attach/ws``: a websocket client (RFC 6455, written out here: no
client library speaks it over a unix socket) attached to a running container."""

from __future__ import annotations

import base64
import hashlib
import os
import socket

from apilib import Service


def _masked(opcode: int, data: bytes) -> bytes:
    mask = os.urandom(4)
    return bytes([0x80 | opcode, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def test_websocket_attach_relays_input_and_output(service: Service) -> None:
    service.docker("run", "-d", "-i", "--name", "echoer", "busybox", "sh", "-c",
                   "while read line; do echo got:$line; done")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(20)
        sock.connect(str(service.sock))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(f"GET /v1.51/containers/echoer/attach/ws?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: x\r\n"
                     f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                     f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        lines = head.decode().split("\r\n")
        assert lines[0] == "HTTP/1.1 101 Switching Protocols"
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        assert f"Sec-WebSocket-Accept: {accept.decode()}" in lines
        sock.sendall(_masked(0x1, b"hello\n"))
        received = b""
        while b"got:hello" not in received:
            received += sock.recv(100)
        assert received == b"\x81\x0agot:hello\n"
    service.docker("rm", "-f", "echoer")
