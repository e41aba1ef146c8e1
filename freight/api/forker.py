"""The service's monitor forker: a single-threaded process that starts monitors for it.

Every container and exec belongs to a monitor forked from the process that starts
it (``spawn.fork_monitor``). The service serves each connection in a thread of its
own, and a process forked while another thread is inside sqlite (or any C library
that holds a lock) inherits that lock held forever: its monitor would hang opening
the store. So the service forks this process once, before any thread starts, and
asks it for each start (``supervise.start``, ``start_viewed``) and exec
(``exec_detached``, ``exec_viewed``): it runs the same library call, one at a time,
from its single thread. A monitor started with the service as its viewer comes back
with the service's end of its attach channel (SCM_RIGHTS). The forker inherits no
client connection, and its monitors close its request socket
(``spawn.at_monitor_fork``); it exits when the service does.
"""

from __future__ import annotations

import json
import os
import threading
from _socket import AF_UNIX, SOCK_CLOEXEC, SOCK_SEQPACKET, socket, socketpair

from freight import errors
from freight.runtime import execute, supervise
from freight.runtime.containers import get
from freight.runtime.spawn import at_monitor_fork
from freight.store.store import open_store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from freight.store import Store

_MESSAGE = 1 << 16
_current: Forker | None = None


def begin(root: str | None) -> None:
    """Fork the service's forker (call it before any thread starts)."""
    global _current
    _current = Forker(root)


def current() -> Forker:
    """The service's forker (``begin``)."""
    if _current is None:
        raise errors.FreightError("the service's monitor forker was not started")
    return _current


class Forker:
    """The service's side: calls to the forker process, one at a time."""

    def __init__(self, root: str | None) -> None:
        mine, theirs = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            mine.close()
            _serve(theirs, root)
        theirs.close()
        self._sock = mine
        self._lock = threading.Lock()
        self.pid = pid

    def start(self, cid: str) -> None:
        """``supervise.start`` of the recorded container ``cid``, detached."""
        self._call({"op": "start", "id": cid})

    def start_viewed(self, cid: str, winsize: bytes | None) -> tuple[socket, int]:
        """``supervise.start_viewed``: our end of the attach channel and the monitor's PID."""
        return self._viewed({"op": "start_viewed", "id": cid, "winsize": _hex(winsize)})

    def exec_detached(self, cid: str, **options: Any) -> None:
        self._call({"op": "exec_detached", "id": cid, "options": options})

    def exec_viewed(self, cid: str, winsize: bytes | None, **options: Any) -> tuple[socket, int]:
        return self._viewed({"op": "exec_viewed", "id": cid, "options": options, "winsize": _hex(winsize)})

    def _viewed(self, request: dict[str, Any]) -> tuple[socket, int]:
        answer, fds = self._call(request)
        return socket(AF_UNIX, SOCK_SEQPACKET, 0, fds[0]), int(answer["pid"])

    def _call(self, request: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
        with self._lock:
            self._sock.sendall(json.dumps(request).encode())
            message, fds, _flags, _address = _recv_fds(self._sock)
        if not message:
            raise errors.FreightError("the service's monitor forker is gone")
        answer: dict[str, Any] = json.loads(message)
        if "error" in answer:
            kind, text = answer["error"]
            error = getattr(errors, kind, errors.FreightError)
            raise (error if isinstance(error, type) and issubclass(error, errors.FreightError)
                   else errors.FreightError)(text)
        for fd in fds:
            os.set_inheritable(fd, False)
        return answer, fds


def _recv_fds(sock: socket) -> tuple[bytes, list[int], int, Any]:
    import socket as socket_module  # recv_fds is the module's (it wraps recvmsg)

    return socket_module.recv_fds(sock, _MESSAGE, 1)  # type: ignore[arg-type]  # any socket with recvmsg


def _hex(data: bytes | None) -> str | None:
    return data.hex() if data is not None else None


def _serve(sock: socket, root: str | None) -> NoReturn:
    """The forker process: answer requests until the service goes."""
    import socket as socket_module

    at_monitor_fork(lambda: os.close(sock.fileno()))
    store = open_store(root)
    code = 0
    try:
        while request := sock.recv(_MESSAGE):
            passed: list[int] = []
            try:
                answer = _run(store, json.loads(request), passed)
            except Exception as err:  # the service raises it again
                answer = {"error": [type(err).__name__, str(err) or type(err).__name__]}
            socket_module.send_fds(sock, [json.dumps(answer).encode()], passed)  # type: ignore[arg-type]
            for fd in passed:
                os.close(fd)
    except BaseException:
        code = 1
    os._exit(code)


def _run(store: Store, request: dict[str, Any], passed: list[int]) -> dict[str, Any]:
    op, cid = request["op"], request["id"]
    winsize = bytes.fromhex(request["winsize"]) if request.get("winsize") else None
    if op == "start":
        supervise.start(store, cid)
        return {}
    if op == "exec_detached":
        execute.exec_detached(store, cid, **request["options"])
        return {}
    if op == "start_viewed":
        viewer, pid = supervise.start_viewed(store, get(store, cid), winsize)
    else:
        viewer, pid = execute.exec_viewed(store, cid, **request["options"], winsize=winsize)
    passed.append(viewer.detach())
    return {"pid": pid}
