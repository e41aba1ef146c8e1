"""Streams between a client and a container: attach, the streams of an exec, and the framing.

Docker frames output as 8-byte headers (stream, 0, 0, 0, big-endian length)
followed by the data, except with a terminal, where the stream is raw. Input
is always raw.

A client that attaches before the start (``docker run`` attaches, then
starts) gets the container started with its streams: its monitor takes the
hijacked connection as its stdin and stdout (for a terminal), or writes to
pipes this thread frames onto it, so the output is live and the container
still belongs to its monitor. A client that attaches to a running container
follows its log (and writes to its stdin), as ``freight attach`` does.
"""

from __future__ import annotations

import io
import json
import os
import select
import socket
import threading
import time

from freight.api.http import Call
from freight.errors import Conflict, FreightError, NotFound
from freight.runtime.attach import open_stdin, pty_master
from freight.runtime.containers import get
from freight.runtime.handoff import read_report
from freight.runtime.spawn import spawn_attached

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable

    from typing_extensions import Buffer

    from freight.runtime.records import Container
    from freight.store import Store

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"
_STREAM_NUMBER = {"stdin": 0, "stdout": 1, "stderr": 2}
_POLL_MS = 50
_START_WAIT = 300.0  # seconds an attached client waits for the start it will ask for


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


class _Pending:
    """A client attached to a container not yet started: the start is done with its streams."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.started = threading.Event()
        self.error: BaseException | None = None


_pending: dict[str, _Pending] = {}
_pending_lock = threading.Lock()
_exits: dict[str, tuple[threading.Event, list[int]]] = {}  # attached containers: their exit, once known


def exit_code_of_attached(cid: str, timeout: float = 5.0) -> int | None:
    """The exit code of a container started with a client's streams, which its monitor
    reports (for one gone with --rm, whose record is removed with it); None if none is known."""
    with _pending_lock:
        entry = _exits.get(cid)
    if entry is None or not entry[0].wait(timeout):
        return None
    return entry[1][0] if entry[1] else None


def start_pending(cid: str) -> bool:
    """Start ``cid`` with the streams of a client waiting on it; False when none waits.
    Raises what the start raised."""
    with _pending_lock:
        pending = _pending.pop(cid, None)
    if pending is None:
        return False
    pending.go.set()
    pending.started.wait()
    if pending.error is not None:
        raise pending.error
    return True


def attach(call: Call) -> None:
    """``POST /containers/{id}/attach``: hijack the connection and relay the chosen streams."""
    st = call.store
    c = get(st, call.args["id"])
    tty = bool(c.config.get("Tty"))
    stdin = call.flag("stdin") and bool(c.config.get("OpenStdin"))
    wanted = {s for s in ("stdout", "stderr") if call.flag(s)}
    if c.running:
        sock, _early = call.hijack(content_type(tty))
        follow(call, c, Channel(sock, tty), stdin, wanted)
        return
    pending = _Pending()  # ``docker start -a``, ``docker run``: the start comes next
    with _pending_lock:
        _pending[c.id] = pending
    try:
        sock, _early = call.hijack(content_type(tty))
        deadline = time.monotonic() + _START_WAIT
        while not pending.go.wait(0.1):
            # A client whose input already ended has shut its side (``docker run -i < /dev/null``):
            # it still waits for the output, so only the deadline ends its wait.
            if (call.client_gone() and not stdin) or time.monotonic() > deadline:
                return
    finally:
        with _pending_lock:
            if _pending.get(c.id) is pending:
                del _pending[c.id]
    done: tuple[threading.Event, list[int]] = (threading.Event(), [])
    with _pending_lock:
        _exits[c.id] = done
    try:
        _pid, code = run_with_client(sock, tty, stdin, wanted,
                                     lambda stdio: spawn_attached(st.root_path, c.id, stdio, stdin), pending)
        if code is not None:
            done[1].append(code)
    finally:
        done[0].set()
        threading.Timer(10.0, _forget_exit, (c.id, done)).start()


def _forget_exit(cid: str, entry: tuple[threading.Event, list[int]]) -> None:
    with _pending_lock:
        if _exits.get(cid) is entry:
            del _exits[cid]


def run_with_client(sock: socket.socket, tty: bool, stdin: bool, wanted: set[str],
                    start: Callable[[tuple[int, int, int]], tuple[int, int]],
                    pending: _Pending | None = None) -> tuple[int, int | None]:
    """Start a command with the client's streams (``start`` spawns its monitor); relay until
    it ends. Its monitor's PID and exit code (None when it could not start)."""
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    pipes: dict[int, str] = {}
    try:
        if tty:
            out = err = sock.fileno() if wanted else null
        else:
            out_r, out = os.pipe()
            err_r, err = os.pipe()
            pipes = {out_r: "stdout", err_r: "stderr"}
        try:
            pid, exit_r = start((sock.fileno() if stdin else null, out, err))
        except BaseException as error:
            if pending is None:
                raise
            pending.error = error
            return 0, None
        finally:
            if pending is not None:
                pending.started.set()
            if not tty:
                os.close(out)
                os.close(err)
        _frame_output(sock, pipes, wanted)
        outcome = read_report(exit_r)
        return pid, outcome[0] if outcome else None
    finally:
        os.close(null)
        for fd in pipes:
            os.close(fd)


def _frame_output(sock: socket.socket, pipes: dict[int, str], wanted: set[str]) -> None:
    """Copy the output pipes, framed, to the client until they end (a client that is gone:
    the output is still read, so that the command never blocks on it)."""
    live = dict(pipes)
    client = True
    while live:
        for fd, _events in _poll(live):
            data = os.read(fd, 65536)
            if not data:
                del live[fd]
                continue
            if client and live.get(fd) in wanted:
                try:
                    sock.sendall(frame(pipes[fd], data, False))
                except OSError:
                    client = False


def _poll(fds: dict[int, str]) -> list[tuple[int, int]]:
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return poller.poll()


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


def follow(call: Call, c: Container, channel: Channel, stdin: bool, wanted: set[str]) -> None:
    """Attached to a running container: its log from now on (once it runs, when it does
    not yet), and the client's input to its stdin, until it exits (or the client leaves)."""
    st = call.store
    log = os.open(c.record["LogPath"], os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o640)
    os.lseek(log, 0, os.SEEK_END)
    target = None
    partial = b""
    try:
        running = _until_running(call, c)
        if running is None:
            return
        target = open_stdin(running) if stdin else None
        poller = select.poll()
        poller.register(channel.sock, select.POLLIN)
        while True:
            partial = _send_log(channel, log, partial, wanted)
            if not _still_running(st, running.id):
                _send_log(channel, log, partial, wanted)
                return
            for _fd, _events in poller.poll(_POLL_MS):
                data = channel.receive()
                if data == b"":  # the client's input ended (it may still read): so does the container's
                    poller.unregister(channel.sock)
                    if target is not None:
                        os.close(target)
                        target = None
                elif data and target is not None:
                    os.write(target, data)
    except OSError:
        return
    finally:
        os.close(log)
        if target is not None:
            os.close(target)


def _until_running(call: Call, c: Container) -> Container | None:
    """``c`` once it runs; None if the client leaves first."""
    while not c.running:
        if call.client_gone():
            return None
        time.sleep(_POLL_MS / 1000)
        c = get(call.store, c.id)
    return c


def _still_running(store: Store, cid: str) -> bool:
    try:
        return get(store, cid).running
    except NotFound:
        return False


def _send_log(channel: Channel, log: int, partial: bytes, wanted: set[str]) -> bytes:
    data = partial + os.read(log, 1 << 20)
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        record = json.loads(line)
        stream = record.get("stream", "stdout")
        if stream in wanted:
            channel.send(stream, record["log"].encode())
    return data[end:]


def resize_container(c: Container, height: int, width: int) -> None:
    """The container's terminal gets the client's size (its monitor holds the pty master)."""
    if not c.config.get("Tty"):
        return
    resize_pty(int(c.state.get("MonitorPid") or 0), height, width)


def resize_pty(holder: int, height: int, width: int) -> None:
    """Set the size of the terminal whose master process ``holder`` holds."""
    import fcntl
    import struct
    import termios

    try:
        master = pty_master(holder)
    except OSError as err:
        raise Conflict(f"cannot resize the terminal: {err}") from None
    if master is None:
        raise FreightError("the container has no terminal to resize")
    try:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    finally:
        os.close(master)
