"""``freight system service``: the Docker Engine API on a unix socket (or TLS-verified TCP).

A thread per connection answers its requests one after the other (``http``);
each thread opens the store once and keeps it (sqlite connections stay in the
thread that opened them). Paths come with or without the ``/v1.NN`` prefix;
versions 1.40 to 1.51 are served. With an idle timeout the service exits once
no connection has been open for that long: the containers it started belong to
their monitors and keep running.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import re
import signal
import socket
import sqlite3
import threading
import time

from freight.api import forker, routes
from freight.api.http import Call, Connection, Disconnected, HttpError
from freight.errors import Conflict, Forbidden, FreightError, InvalidArgument, InvalidReference, NotFound
from freight.settings import runtime_dir
from freight.store.store import Store, open_store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import ssl

MIN_VERSION = (1, 40)
MAX_VERSION = (1, 51)
API_VERSION = "1.51"
_WORKER_IDLE = 60.0  # seconds a connection's thread waits for another before it ends
_VERSIONED = re.compile(r"/v(\d+)\.(\d+)(/.*)")


def default_socket() -> str:
    """``freight.sock`` in the runtime directory (``settings.runtime_dir``): /run/freight as
    root, the user's own private one otherwise (``$XDG_RUNTIME_DIR/freight``, or its fallback),
    so root and users never share a socket and no user reaches another's."""
    return os.path.join(runtime_dir(), "freight.sock")


def listen_unix(path: str) -> socket.socket:
    """A listening unix socket at ``path`` (mode 0660), replacing a stale one."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except FileNotFoundError:
        pass
    except ConnectionRefusedError:
        os.unlink(path)  # a service that died left it
    else:
        raise FreightError(f"{path}: a service is already listening on this socket")
    finally:
        probe.close()
    old = os.umask(0o117)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o660)
    sock.listen(128)
    return sock


def listen_tcp(address: str, context: ssl.SSLContext) -> socket.socket:
    """A listening TCP socket at ``host:port`` whose connections must present a client certificate."""
    host, _, port = address.rpartition(":")
    sock = socket.create_server((host.strip("[]") or "127.0.0.1", int(port)), backlog=128)
    return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)


def tls_context(cert: str, key: str, ca: str) -> ssl.SSLContext:
    """Docker's ``--tlsverify``: our certificate, and clients verified against ``ca``."""
    import ssl  # only TCP needs it

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.load_verify_locations(ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class Service:
    """The listening sockets, the connection threads and the idle clock."""

    def __init__(self, root: str | None, listeners: list[socket.socket], timeout: float) -> None:
        self.root = root
        self.listeners = listeners
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open = 0
        self._idle: list[queue.SimpleQueue[socket.socket]] = []
        self._idle_since = time.monotonic()

    def store(self) -> Store:
        """This thread's store (opened on its first request)."""
        st: Store | None = getattr(self._local, "store", None)
        if st is None:
            st = self._local.store = open_store(self.root)
        return st

    def serve_forever(self) -> None:
        for listener in self.listeners:
            threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        while True:
            time.sleep(min(1.0, self.timeout) if self.timeout > 0 else 3600)
            if self.timeout > 0 and self._idle_for() >= self.timeout:
                return

    def _idle_for(self) -> float:
        with self._lock:
            return 0.0 if self._open else time.monotonic() - self._idle_since

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError as err:
                if err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    time.sleep(0.1)
                continue
            with self._lock:
                self._open += 1
                worker = self._idle.pop() if self._idle else None
            if worker is None:
                worker = queue.SimpleQueue()
                threading.Thread(target=self._work, args=(worker,), daemon=True).start()
            worker.put(sock)

    def _work(self, jobs: queue.SimpleQueue[socket.socket]) -> None:
        """Serve connections one after another; a worker idle for a while ends. Workers are
        kept so that a connection finds its thread's store open (and its thread started)."""
        while True:
            try:
                sock = jobs.get(timeout=_WORKER_IDLE)
            except queue.Empty:
                with self._lock:
                    if jobs in self._idle:
                        self._idle.remove(jobs)
                        return
                continue  # handed a connection just now
            self._connection(sock)
            with self._lock:
                self._idle.append(jobs)

    def _connection(self, sock: socket.socket) -> None:
        try:
            if hasattr(sock, "do_handshake"):
                sock.do_handshake()
            Connection(sock, self.store).serve(self.handle)
        except (OSError, Disconnected):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass
            with self._lock:
                self._open -= 1
                self._idle_since = time.monotonic()

    def handle(self, call: Call) -> None:
        """Route one request and answer it; a failure becomes Docker's status and JSON message."""
        try:
            call.path = self._unversioned(call)
            handler = routes.find(call)
            handler(call)
        except Disconnected:
            raise
        except Exception as err:  # every failure is the client's answer, never the service's end
            status, message = error_status(err)
            if call.hijacked is not None:
                return
            if call.started:
                try:
                    call.send_json({"error": message, "errorDetail": {"message": message}})
                    call.end()
                except Exception:
                    raise Disconnected() from None
                return
            call.respond(status, json.dumps({"message": message}).encode() + b"\n", "application/json")

    @staticmethod
    def _unversioned(call: Call) -> str:
        match = _VERSIONED.fullmatch(call.path)
        if match is None:
            return call.path
        version = (int(match[1]), int(match[2]))
        if version < MIN_VERSION:
            raise HttpError(400, f"client version {match[1]}.{match[2]} is too old. Minimum supported API "
                                 f"version is {MIN_VERSION[0]}.{MIN_VERSION[1]}, please upgrade your client "
                                 f"to a newer version")
        if version > MAX_VERSION:
            raise HttpError(400, f"client version {match[1]}.{match[2]} is too new. Maximum supported API "
                                 f"version is {API_VERSION}")
        call.api_version = f"{match[1]}.{match[2]}"
        return match[3]


def error_status(err: Exception) -> tuple[int, str]:
    """Docker's HTTP status for a failure, and its message."""
    if isinstance(err, HttpError):
        return err.status, err.message
    if isinstance(err, NotFound):
        return 404, str(err)
    if isinstance(err, Conflict):
        return 409, str(err)
    if isinstance(err, Forbidden):
        return 403, str(err)
    if isinstance(err, (InvalidArgument, InvalidReference)):
        return 400, str(err)
    if isinstance(err, FreightError):
        return 500, str(err)
    if isinstance(err, OSError):
        return 500, f"{err.strerror or err}{f': {err.filename}' if err.filename else ''}"
    if isinstance(err, sqlite3.Error):
        return 500, f"store database: {err}"
    return 500, f"{type(err).__name__}: {err}"


def serve(root: str | None, path: str | None, timeout: float, tcp: str | None,
          tls: tuple[str | None, str | None, str | None]) -> None:
    """``freight system service``: listen (the unix socket; TCP only with TLS client verification)
    and serve until idle for ``timeout`` seconds (0: forever) or interrupted."""
    if tcp and not all(tls):
        raise InvalidArgument("--tcp needs --tlscert, --tlskey and --tlscacert: "
                              "the API is only served on TCP to clients with a verified certificate")
    open_store(root)  # a store that cannot be opened fails here, not on the first request
    forker.begin(root)  # before any thread (and any client's socket)
    signal.signal(signal.SIGTERM, _stop)
    path = path or default_socket()
    listeners = [listen_unix(path)]
    try:
        if tcp:
            cert, key, ca = tls
            assert cert and key and ca
            listeners.append(listen_tcp(tcp, tls_context(cert, key, ca)))
        Service(root, listeners, timeout).serve_forever()
    finally:
        for listener in listeners:
            listener.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _stop(_signum: int, _frame: object) -> None:
    """SIGTERM: leave through ``serve``'s clean-up (the socket file is removed)."""
    raise SystemExit(0)
