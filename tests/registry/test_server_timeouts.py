"""Slow and idle clients of `freight registry serve` (``--idle-timeout``), over raw sockets.

A client that does not finish its headers within the idle timeout, or stays idle that
long between requests, is disconnected; a body may take as long as it likes while bytes
keep coming, and gets 408 once it pauses for the idle timeout.
"""

from __future__ import annotations

import os
import socket
import time

import httpx
from imagelib import sha256_digest
from registries import RegistryProcess

IDLE = 1.0
BOUND = IDLE + 2.0  # the timer's own slack, and a busy machine's


def connect(server: RegistryProcess) -> socket.socket:
    host, port = server.host.split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def seconds_until_closed(sock: socket.socket, limit: float = 2 * BOUND) -> float:
    """Read (and drop) whatever comes until the server closes the connection."""
    start = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return limit  # still open
    return time.monotonic() - start


def test_partial_headers_are_cut_off(start_registry) -> None:
    server = start_registry("--idle-timeout", str(IDLE))
    slow = [connect(server) for _ in range(50)]
    for sock in slow:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    start = time.monotonic()
    assert httpx.get(f"{server.url}/v2/").status_code == 200  # others are still served
    for sock in slow:
        seconds_until_closed(sock, limit=max(0.1, start + BOUND - time.monotonic()))
        sock.close()
    assert time.monotonic() - start < BOUND


def test_trickled_headers_do_not_extend_the_deadline(start_registry) -> None:
    server = start_registry("--idle-timeout", str(IDLE))
    sock = connect(server)
    start = time.monotonic()
    sock.settimeout(0.2)
    closed = False
    for byte in b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
        try:
            sock.send(bytes([byte]))
            closed = sock.recv(1) == b""
        except TimeoutError:
            continue
        except OSError:
            closed = True
        if closed:
            break
    sock.close()
    assert closed and time.monotonic() - start < BOUND


def test_silent_and_idle_connections_are_closed(start_registry) -> None:
    server = start_registry("--idle-timeout", str(IDLE))
    silent = connect(server)
    assert IDLE * 0.8 < seconds_until_closed(silent) < BOUND
    kept_alive = connect(server)
    kept_alive.sendall(f"GET /v2/ HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
    assert kept_alive.recv(65536).startswith(b"HTTP/1.1 200")
    assert seconds_until_closed(kept_alive) < BOUND
    silent.close()
    kept_alive.close()


def test_a_flowing_body_outlasts_the_idle_timeout(start_registry) -> None:
    server = start_registry("--idle-timeout", str(IDLE))
    data = os.urandom(3 << 20)
    pieces = [data[i:i + (256 << 10)] for i in range(0, len(data), 256 << 10)]

    def slowly() -> object:
        for piece in pieces:  # 12 pieces, 0.3 s apart: the body takes about 3 idle timeouts
            time.sleep(0.3)
            yield piece

    start = time.monotonic()
    r = httpx.post(f"{server.url}/v2/slow/blobs/uploads/", params={"digest": sha256_digest(data)},
                   content=slowly(), headers={"Content-Length": str(len(data))}, timeout=30)
    assert r.status_code == 201 and time.monotonic() - start > 3 * IDLE
    assert httpx.get(f"{server.url}/v2/slow/blobs/{sha256_digest(data)}").content == data


def test_a_stalled_body_gets_408_and_leaves_no_upload(start_registry) -> None:
    server = start_registry("--idle-timeout", str(IDLE))
    sock = connect(server)
    digest = sha256_digest(b"x" * 1000)
    sock.sendall(f"POST /v2/stall/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 1000\r\n\r\n".encode() + b"x" * 10)
    start = time.monotonic()
    answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - start < BOUND
    sock.close()
    assert list((server.root / "uploads").iterdir()) == []
    assert httpx.head(f"{server.url}/v2/stall/blobs/{digest}").status_code == 404
