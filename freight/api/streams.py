"""Streams between a client and a container: attach, the streams of an exec, and the framing.

Docker frames output as 8-byte headers (stream, 0, 0, 0, big-endian length)
followed by the data, except with a terminal, where the stream is raw. Input
is always raw.

The service is one more viewer of a container's monitor, as ``freight attach``
and ``freight run`` are: it relays between the client and the monitor's attach
channel (``runtime.channel``). A client that attaches before the start
(``docker run`` attaches, then starts) gets the container started with the
service as its first viewer, so that none of the output is missed and its exit
code comes back (for a ``--rm`` container too); a client that attaches to a
running container connects to its monitor's socket.
"""

from __future__ import annotations

import io
import select
import socket
import struct
import threading
import time

from freight.api import forker
from freight.api.http import Call
from freight.errors import FreightError
from freight.runtime import channel
from freight.runtime.containers import get

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from _socket import socket as Monitor  # the attach channel's (``channel.connect``)
    from collections.abc import Callable

    from typing_extensions import Buffer

    from freight.runtime.records import Container
    from freight.store import Store

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"
_STREAM_NUMBER = {"stdin": 0, "stdout": 1, "stderr": 2}


def content_type(tty: bool) -> str:
    return RAW if tty else MULTIPLEXED


def frame(stream: str, data: bytes, tty: bool) -> bytes:
    """``data`` as Docker sends it on ``stream``: raw with a terminal, else with the 8-byte header."""
    if tty or not data:
        return data
    return bytes([_STREAM_NUMBER[stream], 0, 0, 0]) + len(data).to_bytes(4, "big") + data


class CallWriter(io.RawIOBase):
    """A streamed answer as a writable file (for a tar written to it)."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer, /) -> int:
        chunk = bytes(data)
        self._call.send(chunk)
        return len(chunk)


class BodyReader(io.RawIOBase):
    """A request's body as a readable file."""

    def __init__(self, call: Call) -> None:
        self._read = call.chunks()
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]  # as RawIOBase's
        if not self._buffer:
            self._buffer = self._read()
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def answer_file(call: Call) -> io.BufferedWriter:
    """A streamed answer as a buffered binary file (flush it before ``call.end``)."""
    return io.BufferedWriter(CallWriter(call), 1 << 16)


def body_file(call: Call) -> io.BufferedReader:
    """The request's body as a buffered binary file."""
    return io.BufferedReader(BodyReader(call), 1 << 16)


class Channel:
    """The client's side of a hijacked connection: output to it, input from it."""

    def __init__(self, sock: socket.socket, tty: bool) -> None:
        self.sock = sock
        self.tty = tty

    def send(self, stream: str, data: bytes) -> None:
        self.sock.sendall(frame(stream, data, self.tty))

    def receive(self) -> bytes | None:
        """The client's next input (b"" once it ended; None: nothing for the container)."""
        return self.sock.recv(65536)


def winsize(size: list[int] | None) -> bytes | None:
    """Docker's ``ConsoleSize`` ([rows, columns]) as a packed ``struct winsize``; None without one."""
    if not size or len(size) < 2 or not all(size[:2]):
        return None
    return struct.pack("HHHH", size[0], size[1], 0, 0)


def view(monitor: Monitor, client: Channel, stdin: bool, wanted: set[str], early: bytes = b"") -> int | None:
    """Relay between a monitor's attach channel and a client (its input when ``stdin``, the
    output streams in ``wanted``) until the exit code arrives (returned); None when the client
    or the monitor went away first. The channel is closed on return."""
    try:
        monitor.sendall(b"ai" if stdin else b"a")
        if stdin and early:
            monitor.sendall(b"0" + early)
        poller = select.poll()
        poller.register(monitor, select.POLLIN)
        poller.register(client.sock, select.POLLIN if stdin else 0)  # 0: only its hang-up
        while True:
            for fd, events in poller.poll():
                if fd == monitor.fileno():
                    outcome = _from_monitor(monitor, client, wanted)
                    if outcome != _GO_ON:
                        return outcome
                elif not _from_client(monitor, client, events, poller):
                    return None
    except OSError:
        return None
    finally:
        monitor.close()


_GO_ON = -1


def _from_monitor(monitor: Monitor, client: Channel, wanted: set[str]) -> int | None:
    """One message of the monitor's: the exit code, None once it or the client is gone, else ``_GO_ON``."""
    message = monitor.recv(1 << 17)
    if not message:
        return None
    kind, payload = message[:1], message[1:]
    if kind == b"x":
        return int(payload)
    stream = "stdout" if kind == b"1" else "stderr"  # "2", and "e": the monitor's warnings
    if stream in wanted:
        client.send(stream, payload)
    return _GO_ON


def _from_client(monitor: Monitor, client: Channel, events: int, poller: select.poll) -> bool:
    """The client's input to the monitor; False once the client is gone (its input ended but
    its reading goes on: the monitor is told, and only a hang-up is watched for from then on)."""
    if not events & select.POLLIN:
        return False  # POLLHUP, POLLERR
    data = client.receive()
    if data == b"":
        monitor.sendall(b"0")
        poller.modify(client.sock, 0)
    elif data:
        monitor.sendall(b"0" + data)
    return True


class _Pending:
    """A client attached to a container not yet started: the start hands it the channel."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.forked: tuple[Monitor, int] | None = None


_pending: dict[str, _Pending] = {}
_pending_lock = threading.Lock()
_exits: dict[str, tuple[threading.Event, list[int]]] = {}  # attached containers: their exit, once known
_START_WAIT = 300.0  # seconds an attached client waits for the start it will ask for


def exit_code_of_attached(cid: str, timeout: float = 5.0) -> int | None:
    """The exit code of a container started with a client attached, which its monitor
    sends (for one gone with --rm, whose record is removed with it); None if none is known."""
    with _pending_lock:
        entry = _exits.get(cid)
    if entry is None or not entry[0].wait(timeout):
        return None
    return entry[1][0] if entry[1] else None


def start_pending(c: Container) -> bool:
    """Start ``c`` with the service as its first viewer for a client attached to it before
    (``docker run``, ``docker start -a``); False when none waits. Raises the start's error."""
    with _pending_lock:
        pending = _pending.pop(c.id, None)
    if pending is None:
        return False
    try:
        pending.forked = forker.current().start_viewed(c.id, winsize(c.host_config.get("ConsoleSize")))
    finally:
        pending.go.set()
    return True


def attach(call: Call) -> None:
    """``POST /containers/{id}/attach``: hijack the connection and relay the chosen streams."""
    c = get(call.store, call.args["id"])
    tty = bool(c.config.get("Tty"))

    def hijack() -> tuple[Channel, bytes]:
        sock, early = call.hijack(content_type(tty))
        return Channel(sock, tty), early

    attach_client(call, c, hijack)


def attach_client(call: Call, c: Container, take: Callable[[], tuple[Channel, bytes]]) -> None:
    """Take the connection (``take``: the client's channel and its input already read) and relay
    between the client and ``c``'s monitor: at once when it runs, else from its start on (the
    client's ``start`` comes next, once it has the answer: so a start is awaited before it)."""
    stdin = call.flag("stdin") and bool(c.config.get("OpenStdin"))
    wanted = {s for s in ("stdout", "stderr") if call.flag(s)}
    if c.running:
        client, early = take()
        try:
            monitor = channel.connect(c.directory(call.store))
        except OSError:  # it exited meanwhile
            return
        view(monitor, client, stdin, wanted, early)
        return
    pending = _Pending()
    with _pending_lock:
        _pending[c.id] = pending
    try:
        client, early = take()
    except BaseException:
        _withdraw(c.id, pending)
        raise
    if not _wait_for_start(client, c.id, pending) or pending.forked is None:
        return
    done: tuple[threading.Event, list[int]] = (threading.Event(), [])
    with _pending_lock:
        _exits[c.id] = done
    try:
        code = view(pending.forked[0], client, stdin, wanted, early)
        if code is not None:
            done[1].append(code)
    finally:
        done[0].set()
        threading.Timer(10.0, _forget_exit, (c.id, done)).start()


def _wait_for_start(client: Channel, cid: str, pending: _Pending) -> bool:
    """Whether the start came (else the client left, or waited too long)."""
    deadline = time.monotonic() + _START_WAIT
    while not pending.go.wait(0.1):
        if _hung_up(client.sock) or time.monotonic() > deadline:
            _withdraw(cid, pending)
            return False
    return True


def _hung_up(sock: socket.socket) -> bool:
    """Whether the client closed its connection. One that only shut its writing side (the
    docker CLI does once its input ended, or at once without one) still reads the output; a
    unix socket tells them apart (POLLHUP once both sides are shut), TCP does not (then only
    the deadline ends the wait)."""
    poller = select.poll()
    poller.register(sock, 0)
    return any(events & (select.POLLHUP | select.POLLERR) for _fd, events in poller.poll(0))


def _withdraw(cid: str, pending: _Pending) -> None:
    """The client no longer waits for the start: a start that took it already is let go."""
    with _pending_lock:
        if _pending.get(cid) is pending:
            del _pending[cid]
            return
    pending.go.wait()
    if pending.forked is not None:
        pending.forked[0].close()


def _forget_exit(cid: str, entry: tuple[threading.Event, list[int]]) -> None:
    with _pending_lock:
        if _exits.get(cid) is entry:
            del _exits[cid]


def resize(store: Store, c: Container, height: int, width: int) -> None:
    """The container's terminal gets the client's size, through its monitor."""
    if not c.config.get("Tty") or not c.running:
        return
    size = winsize([height, width])
    if size is None:
        return
    try:
        monitor = channel.connect(c.directory(store))
    except OSError:
        raise FreightError(f"cannot resize container {c.id[:12]}: its monitor does not answer") from None
    try:
        monitor.sendall(b"w" + size)
    finally:
        monitor.close()


class ExitWatch:
    """A viewer of a running container's monitor that only waits for the exit code, which the
    monitor sends once the exit is recorded or, with ``--rm``, the container removed (``wait``
    needs it then: the record is gone). Its output is read and dropped."""

    def __init__(self, store: Store, c: Container) -> None:
        self.code: int | None = None
        self._sock: Monitor | None = None
        try:
            self._sock = channel.connect(c.directory(store))
            self._sock.sendall(b"a")
            self._sock.setblocking(False)
        except OSError:  # it exited meanwhile
            self.close()

    def check(self) -> int | None:
        """The exit code once it came (None until then, or when the monitor went without it)."""
        while self._sock is not None:
            try:
                message = self._sock.recv(1 << 17)
            except BlockingIOError:
                break
            except OSError:
                message = b""
            if message[:1] == b"x":
                self.code = int(message[1:])
            if not message or self.code is not None:
                self.close()
        return self.code

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
