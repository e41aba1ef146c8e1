"""The userspace proxy that serves a container's published ports, as rootless engines do.

It runs in the container's supervisor (``supervise``). For each binding
(``ports.PortBinding``) it listens on ``hostIP:hostPort`` on the host and, for each
TCP connection or UDP peer, opens a socket *inside the container's network
namespace* to ``127.0.0.1:containerPort``: its relay thread calls setns(2) on the
namespace (setns changes only the calling thread), so every socket it creates
lives there, while the listening sockets stay on the host. A server in the
container must therefore listen on 127.0.0.1 or 0.0.0.0.

``bind()`` creates the host sockets before the container is forked (a port in
use fails there, ``Conflict``, exit 125, before anything runs) and starts no
thread, so forking afterwards is safe; ``start(netns)`` enters the container's
namespace in the relay thread once the container runs, and ``stop()`` ends it
when the container exits. ``bindings`` are then the host ports really bound.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import threading
import time

from freight.errors import Conflict, FreightError
from freight.record import Record, replace
from freight.runtime import syscalls
from freight.runtime.ports import PortBinding

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

UDP_IDLE_TIMEOUT = 90.0  # seconds a UDP peer's upstream socket lives without traffic
_CHUNK = 65536


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _bind_one(binding: PortBinding) -> tuple[socket.socket, PortBinding]:
    """Bind the host socket of one binding (the first free port of a range)."""
    ip = binding.host_ip or "0.0.0.0"
    last = max(binding.host_port_end, binding.host_port)
    candidates = range(binding.host_port, last + 1)
    error: OSError | None = None
    for port in candidates:
        kind = socket.SOCK_STREAM if binding.proto == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(_family(ip), kind)
        try:
            if kind == socket.SOCK_STREAM:  # as Go's listeners: no TIME_WAIT conflicts
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((ip, port))
            if kind == socket.SOCK_STREAM:
                sock.listen(socket.SOMAXCONN)
        except OSError as exc:
            sock.close()
            error = exc
            if exc.errno != errno.EADDRINUSE:
                break
            continue
        sock.setblocking(False)
        actual = replace(binding, host_ip=ip, host_port=sock.getsockname()[1], host_port_end=0)
        return sock, actual
    assert error is not None
    shown = f"[{ip}]" if ":" in ip else ip
    ports = str(binding.host_port) if last == binding.host_port else f"{binding.host_port}-{last}"
    if error.errno == errno.EADDRINUSE:
        raise Conflict(f"Bind for {shown}:{ports} failed: port is already allocated")
    family = "6" if ":" in ip else "4"
    reason = (error.strerror or str(error)).lower()
    raise FreightError(f"listen {binding.proto}{family} {shown}:{ports}: bind: {reason}")


class PortProxy:
    """Relays host ports to ports inside a container's network namespace.

    ``bind()`` creates the host sockets (errors before the container starts);
    ``start()`` enters the namespace in a relay thread and serves until ``stop()``.
    """

    def __init__(self, netns_path: str | None, bindings: Iterable[PortBinding]) -> None:
        self.netns_path = netns_path
        self.requested = list(bindings)
        self.bindings: list[PortBinding] = []
        self._sockets: list[socket.socket] = []
        self._relay: _Relay | None = None

    def bind(self) -> None:
        """Bind every host socket, or none: a failure closes the ones already bound."""
        if self._sockets or not self.requested:
            return
        bound: list[tuple[socket.socket, PortBinding]] = []
        try:
            for binding in self.requested:
                bound.append(_bind_one(binding))
        except FreightError:
            for sock, _ in bound:
                sock.close()
            raise
        self._sockets = [sock for sock, _ in bound]
        self.bindings = [actual for _, actual in bound]

    def start(self, netns_path: str | None = None) -> None:
        """Bind if not yet done, then relay into ``netns_path`` in a thread."""
        self.bind()
        if not self._sockets or self._relay is not None:
            return
        path = netns_path or self.netns_path
        if path is None:
            raise FreightError("port proxy: no network namespace to relay into")
        try:
            netns_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise FreightError(f"port proxy: cannot open {path}: {exc.strerror}") from None
        relay = _Relay(netns_fd, list(zip(self._sockets, self.bindings)))
        relay.start()
        self._relay = relay

    def stop(self) -> None:
        """Stop relaying and close every socket.  Idempotent."""
        if self._relay is not None:
            self._relay.stop()
            self._relay = None
        for sock in self._sockets:
            sock.close()
        self._sockets = []


class _Stream:
    """One relayed TCP connection: ``socks[i]`` sends what was read from the other."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.socks = (client, upstream)
        self.pending = (bytearray(), bytearray())  # read from socks[i], not yet written
        self.eof = [False, False]  # socks[i] has no more to send
        self.connecting = True
        self.registered = [0, 0]

    def wanted(self, i: int) -> int:
        if self.connecting:
            return selectors.EVENT_WRITE if i == 1 else 0
        events = 0
        if not self.eof[i] and not self.pending[i]:
            events |= selectors.EVENT_READ
        if self.pending[1 - i]:
            events |= selectors.EVENT_WRITE
        return events

    def done(self) -> bool:
        return all(self.eof) and not any(self.pending)


class _Datagram(Record, frozen=False):
    """One UDP peer of a published port and its socket in the container's netns."""

    host_sock: socket.socket
    peer: Any  # the address recvfrom gave
    upstream: socket.socket
    last_seen: float


class _Relay(threading.Thread):
    """The selector loop: accepts on host sockets, relays in the container's netns."""

    def __init__(self, netns_fd: int, listeners: list[tuple[socket.socket, PortBinding]]) -> None:
        super().__init__(name="freight-port-proxy", daemon=True)
        self.netns_fd = netns_fd
        self.listeners = listeners
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.flows: dict[tuple[int, Any], _Datagram] = {}
        self.streams: set[_Stream] = set()
        self.running = True
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def start(self) -> None:
        super().start()
        self.ready.wait()
        if self.error is not None:
            self.stop()
            raise FreightError(f"port proxy: cannot enter the container's network: {self.error}")

    def stop(self) -> None:
        """End the loop and wait for it; the wake pipe is closed only after that."""
        self.running = False
        os.write(self.wake_w, b"x")
        self.join()
        os.close(self.wake_r)
        os.close(self.wake_w)

    def run(self) -> None:
        try:
            try:
                syscalls.setns(self.netns_fd, syscalls.CLONE_NEWNET)
            except OSError as exc:
                self.error = exc
                return
            finally:
                os.close(self.netns_fd)
                self.ready.set()
            self._loop()
        finally:
            self._close_all()

    def _loop(self) -> None:
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        for sock, binding in self.listeners:
            self.selector.register(sock, selectors.EVENT_READ, binding)
        while self.running:
            for key, events in self.selector.select(self._timeout()):
                self._dispatch(key, events)
            self._expire_flows()

    def _dispatch(self, key: selectors.SelectorKey, events: int) -> None:
        data = key.data
        if isinstance(data, PortBinding):
            listener = key.fileobj
            assert isinstance(listener, socket.socket)  # a binding's data goes with its host socket
            if data.proto == "tcp":
                self._accept(listener, data)
            else:
                self._from_peer(listener, data)
        elif isinstance(data, tuple):
            self._on_stream(data[0], data[1], events)
        elif isinstance(data, _Datagram):
            self._from_upstream(data)

    def _timeout(self) -> float | None:
        if not self.flows:
            return None
        oldest = min(flow.last_seen for flow in self.flows.values())
        return max(oldest + UDP_IDLE_TIMEOUT - time.monotonic(), 0.0)

    # ---- TCP

    def _accept(self, listener: socket.socket, binding: PortBinding) -> None:
        try:
            client, _ = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        client.setblocking(False)
        try:
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # in the container's netns
        except OSError:  # out of file descriptors: refuse this one, keep serving
            client.close()
            return
        upstream.setblocking(False)
        stream = _Stream(client, upstream)
        self.streams.add(stream)
        code = upstream.connect_ex(("127.0.0.1", binding.container_port))
        if code not in (0, errno.EINPROGRESS):
            self._close_stream(stream)
            return
        self._update(stream)

    def _on_stream(self, stream: _Stream, i: int, events: int) -> None:
        try:
            if stream.connecting:
                self._finish_connect(stream)
            else:
                if events & selectors.EVENT_WRITE:
                    self._flush(stream, 1 - i)
                if events & selectors.EVENT_READ:
                    self._read(stream, i)
        except OSError:
            self._close_stream(stream)
            return
        if stream.done():
            self._close_stream(stream)
        elif stream in self.streams:
            self._update(stream)

    def _finish_connect(self, stream: _Stream) -> None:
        code = stream.socks[1].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code))
        stream.connecting = False

    def _read(self, stream: _Stream, i: int) -> None:
        """Read from socks[i] and pass it on; what the peer cannot take waits."""
        data = stream.socks[i].recv(_CHUNK)
        if not data:
            stream.eof[i] = True
            stream.socks[1 - i].shutdown(socket.SHUT_WR)
            return
        stream.pending[i].extend(data)
        self._flush(stream, i)

    def _flush(self, stream: _Stream, i: int) -> None:
        """Write what was read from socks[i] to the other socket."""
        buffer = stream.pending[i]
        try:
            sent = stream.socks[1 - i].send(buffer, socket.MSG_NOSIGNAL)
        except BlockingIOError:
            return
        del buffer[:sent]
        if not buffer and stream.eof[i]:
            stream.socks[1 - i].shutdown(socket.SHUT_WR)

    def _update(self, stream: _Stream) -> None:
        for i, sock in enumerate(stream.socks):
            wanted, current = stream.wanted(i), stream.registered[i]
            if wanted == current:
                continue
            if not current:
                self.selector.register(sock, wanted, (stream, i))
            elif not wanted:
                self.selector.unregister(sock)
            else:
                self.selector.modify(sock, wanted, (stream, i))
            stream.registered[i] = wanted

    def _close_stream(self, stream: _Stream) -> None:
        self.streams.discard(stream)
        for i, sock in enumerate(stream.socks):
            if stream.registered[i]:
                self.selector.unregister(sock)
            sock.close()

    # ---- UDP

    def _from_peer(self, host_sock: socket.socket, binding: PortBinding) -> None:
        try:
            data, peer = host_sock.recvfrom(_CHUNK)
        except OSError:
            return
        flow = self.flows.get((host_sock.fileno(), peer))
        if flow is None:
            upstream = self._udp_upstream(binding.container_port)
            if upstream is None:
                return  # no socket (out of descriptors) or no route: drop it, as UDP may
            flow = _Datagram(host_sock, peer, upstream, time.monotonic())
            self.flows[(host_sock.fileno(), peer)] = flow
            self.selector.register(upstream, selectors.EVENT_READ, flow)
        flow.last_seen = time.monotonic()
        try:
            flow.upstream.send(data)
        except OSError:
            pass  # nobody listens yet (ECONNREFUSED): UDP drops it, as the network would

    @staticmethod
    def _udp_upstream(port: int) -> socket.socket | None:
        try:
            upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # in the container's netns
        except OSError:
            return None
        try:
            upstream.setblocking(False)
            upstream.connect(("127.0.0.1", port))
        except OSError:
            upstream.close()
            return None
        return upstream

    def _from_upstream(self, flow: _Datagram) -> None:
        try:
            data = flow.upstream.recv(_CHUNK)
            flow.host_sock.sendto(data, flow.peer)
        except OSError:
            return
        flow.last_seen = time.monotonic()

    def _expire_flows(self) -> None:
        now = time.monotonic()
        for key, flow in list(self.flows.items()):
            if now - flow.last_seen >= UDP_IDLE_TIMEOUT:
                self.selector.unregister(flow.upstream)
                flow.upstream.close()
                del self.flows[key]

    def _close_all(self) -> None:
        for stream in list(self.streams):
            self._close_stream(stream)
        for flow in self.flows.values():
            flow.upstream.close()
        self.flows.clear()
        self.selector.close()
