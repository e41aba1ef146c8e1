"""The attach channel: how viewers (``run`` and ``start -a`` in the foreground, ``attach``)
see and feed a container that its monitor runs.

The monitor listens on ``attach.sock`` in the container's directory, a Unix socket of
type SOCK_SEQPACKET (each message keeps its bounds), and may be handed one viewer
already connected: the socket pair of the ``run`` or ``start -a`` that started it, so
that no output is missed. A message is one type byte and its payload:

* viewer to monitor: ``a`` hello (payload ``i`` when the viewer's input is attached),
  ``0`` input (empty: the input ended), ``w`` a packed ``struct winsize``, ``k`` a signal
  number (``--sig-proxy``);
* monitor to viewer: ``1`` and ``2`` output of stdout and stderr, ``x`` the exit code,
  sent once the exit is recorded (or, with ``--rm``, the container removed); ``e`` the
  monitor's own warnings (a failed poststart hook), for the viewer's stderr.

In the monitor, ``Relay`` copies the container's output to the json-file log and the
``Hub``'s viewers, and their input to the container, in one thread (``select.poll``).
A viewer that goes away changes nothing for the container, except that the end of an
attached input closes a ``StdinOnce`` container's stdin, as in Docker. Only the monitor
knows the container's process: a viewer never signals a PID that may have been reused.
"""

from __future__ import annotations

import os
import select
import stat
import time
from _socket import AF_UNIX, SOCK_CLOEXEC, SOCK_SEQPACKET, socket, socketpair  # the C module: no enum set-up

from freight.runtime.signals import send_signal
from freight.runtime.stdio import RawTerminal, set_window_size, window_size, write_all

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.runtime.stdio import JsonLog

SOCKET = "attach.sock"
_GOODBYE = 2.0  # seconds a finished monitor gives its viewers to take the rest and close their ends
_EXIT_WAIT = 10.0  # seconds a viewer waits for the monitor that sent it the exit code to exit
_BACKLOG = 8 << 20  # bytes of output a viewer may leave untaken before it is dropped
_MESSAGE = 1 << 17  # a read of output (64 KiB) and its type byte fit
_RETRY_SETTLE = 1.0  # seconds before a relay that could not stop for a hand-over tries again
_NOT_FORWARDED = {"SIGKILL", "SIGSTOP", "SIGCHLD", "SIGWINCH", "SIGPIPE", "SIGURG"}
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def pair() -> tuple[socket, socket]:
    """A connected viewer (first) and monitor (second) end, for a monitor this process starts."""
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)


def _at(directory: str, act: str) -> socket:
    """A socket bound (``act`` "bind") or connected to the directory's ``attach.sock``; through
    ``/proc/self/fd`` since a store's path can exceed a socket address's 108 bytes."""
    sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        getattr(sock, act)(f"/proc/self/fd/{fd}/{SOCKET}")
    except OSError:
        sock.close()
        raise
    finally:
        os.close(fd)
    return sock


def connect(directory: str) -> socket:
    """A viewer's connection to the monitor of the container in ``directory`` (OSError: none)."""
    return _at(directory, "connect")


# ---------------------------------------------------------------- the monitor's side


class Relay:
    """Copy container output to the json-file log and to a monitor's viewers (``hub``,
    ``channel``), whose input it writes to the container.

    ``sources`` maps a container-side fd to its stream name ("stdout"/"stderr");
    with a pty the single master fd is "stdout" and also the input target.
    """

    def __init__(self, sources: dict[int, str], log: JsonLog | None, stdin_to: int | None = None,
                 close_stdin: bool = True, hub: Hub | None = None) -> None:
        self.sources = dict(sources)
        self.log = log
        self.stdin_to = stdin_to
        self.close_stdin = close_stdin
        self.hub = hub

    def run(self, settle: float | None = None) -> bool:
        """Relay until the container's streams end (True); with ``settle``, stop early (False)
        once that many seconds passed with nothing in flight (``idle``), for a hand-over (the
        log's partial lines go with it)."""
        poller = select.poll()
        for fd in self.sources:
            poller.register(fd, select.POLLIN)
        if self.hub is not None:
            self.hub.watch(poller)
        deadline = None if settle is None else time.monotonic() + settle
        while self.sources:
            wait = None if deadline is None else max(deadline - time.monotonic(), 0.0) * 1000 + 1
            ready = poller.poll(wait)
            if deadline is not None and time.monotonic() >= deadline:
                if self.idle():
                    return False
                deadline = time.monotonic() + _RETRY_SETTLE
            for fd, events in ready:
                if self.hub is not None and self.hub.owns(fd):
                    self.hub.handle(fd, events, self)
                elif fd in self.sources and not self._copy_out(fd):
                    poller.unregister(fd)
                    os.close(fd)
                    if fd == self.stdin_to:
                        self.stdin_to = None
                    del self.sources[fd]
        if self.stdin_to is not None and self.close_stdin:
            os.close(self.stdin_to)
            self.stdin_to = None
        if self.log is not None:
            self.log.close()
        return True

    def idle(self) -> bool:
        """Nothing in flight: no output waits for a viewer to take it."""
        return not (self.hub is not None and self.hub.pending())

    def _copy_out(self, fd: int) -> bool:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the pty's other side is gone
            data = b""
        if not data:
            return False
        stream = self.sources[fd]
        if self.log is not None:
            self.log.write(stream, data)
        if self.hub is not None:
            self.hub.send(stream, data)
        return True

    def feed(self, data: bytes) -> bool:
        """Write input to the container; False when it cannot take it."""
        if self.stdin_to is None:
            return False
        try:
            write_all(self.stdin_to, data)
            return True
        except OSError:
            return False

    def end_input(self) -> None:
        """The input ended: close the container's stdin (not a terminal's master, which is also its output)."""
        if self.stdin_to is not None and self.close_stdin and self.stdin_to not in self.sources:
            os.close(self.stdin_to)
            self.stdin_to = None


class Hub:
    """The monitor's viewers: it sends them the output and takes their input and signals.

    It never waits for a viewer while the container runs: output a viewer cannot take at
    once waits in its backlog (sent when it can), and a viewer whose backlog outgrows
    ``_BACKLOG`` is dropped, so a stopped viewer holds up neither the container nor the log.
    """

    def __init__(self, directory: str | None, pid: int, tty: bool, stdin_once: bool,
                 first: socket | None = None) -> None:
        """``directory``: the container's, to listen in (None: ``first`` is the only viewer, as
        an exec's)."""
        self.pid, self.tty, self.stdin_once, self.directory = pid, tty, stdin_once, directory
        self.listener = None
        self.viewers: dict[int, socket] = {}
        self.backlog: dict[int, list[bytes]] = {}
        self.feeding: set[int] = set()  # viewers whose input is attached
        self.poller = select.poll()
        if directory is not None:
            try:
                os.unlink(f"{directory}/{SOCKET}")
            except FileNotFoundError:
                pass
            self.listener = _at(directory, "bind")
            self.listener.listen(16)
            self.poller.register(self.listener.fileno(), select.POLLIN)
        if first is not None:
            self._add(first)

    @classmethod
    def adopt(cls, directory: str | None, pid: int, tty: bool, stdin_once: bool, listener: int,
              viewers: list[int], feeding: list[int]) -> Hub:
        """The hub a re-executed monitor (``slim``) takes over: its listening socket (-1: none)
        and viewers, inherited fds (``handed_over``), and the viewers whose input is attached."""
        hub = cls(None, pid, tty, stdin_once)
        hub.directory = directory
        if listener >= 0:
            os.set_inheritable(listener, False)
            hub.listener = socket(AF_UNIX, SOCK_SEQPACKET, 0, listener)
            hub.poller.register(listener, select.POLLIN)
        for fd in viewers:
            os.set_inheritable(fd, False)
            hub._add(socket(AF_UNIX, SOCK_SEQPACKET, 0, fd))
        hub.feeding = set(feeding)
        return hub

    def handed_over(self) -> tuple[int, list[int], list[int]]:
        """The listening socket (-1: none), the viewers and those feeding input: what a process
        that takes them over needs (``adopt``)."""
        listener = self.listener.fileno() if self.listener is not None else -1
        return listener, list(self.viewers), sorted(self.feeding)

    def pending(self) -> bool:
        """Whether some viewer has output yet to take."""
        return any(self.backlog.values())

    def flush(self, timeout: float) -> None:
        """Send every viewer its backlog, waiting at most ``timeout`` seconds in all; those that
        cannot take it are dropped."""
        deadline = time.monotonic() + timeout
        for fd, viewer in list(self.viewers.items()):
            try:
                viewer.settimeout(max(deadline - time.monotonic(), 0.001))
                for message in self.backlog[fd]:
                    viewer.sendall(message)
                self.backlog[fd] = []
            except OSError:
                self._drop(fd, None)

    def watch(self, poller: select.poll) -> None:
        """Be polled by ``poller`` (the relay's) from now on."""
        self.poller = poller
        for fd in [*([self.listener.fileno()] if self.listener is not None else []), *self.viewers]:
            poller.register(fd, select.POLLIN | (select.POLLOUT if self.backlog.get(fd) else 0))

    def owns(self, fd: int) -> bool:
        return fd in self.viewers or self.listener is not None and fd == self.listener.fileno()

    def _add(self, viewer: socket) -> None:
        viewer.setblocking(False)
        self.viewers[viewer.fileno()] = viewer
        self.backlog[viewer.fileno()] = []
        self.poller.register(viewer.fileno(), select.POLLIN)

    def handle(self, fd: int, events: int, relay: Relay) -> None:
        """A new viewer, a message from one, or room in one for its backlog."""
        if self.listener is not None and fd == self.listener.fileno():
            try:  # the C socket's accept, which socket.socket.accept wraps (typeshed omits it)
                viewer = socket(AF_UNIX, SOCK_SEQPACKET, 0, self.listener._accept()[0])  # type: ignore[attr-defined]
            except OSError:
                return
            os.set_inheritable(viewer.fileno(), False)
            self._add(viewer)
            return
        if events & select.POLLOUT and not self._flush(fd):
            return
        if not events & (select.POLLIN | select.POLLHUP | select.POLLERR):
            return
        try:
            message = self.viewers[fd].recv(_MESSAGE)
        except BlockingIOError:
            return
        except OSError:
            message = b""
        if not message:
            self._drop(fd, relay)
            return
        kind, payload = message[:1], message[1:]
        if kind == b"a":
            if payload == b"i":
                self.feeding.add(fd)
        elif kind == b"0":
            self._input(fd, payload, relay)
        elif kind == b"w" and self.tty and relay.stdin_to is not None:
            set_window_size(relay.stdin_to, payload)
        elif kind == b"k" and payload.isdigit():
            send_signal(self.pid, int(payload))

    def _input(self, fd: int, data: bytes, relay: Relay) -> None:
        if data:
            relay.feed(data)
        elif fd in self.feeding:
            self.feeding.discard(fd)
            self._input_ended(relay)

    def _input_ended(self, relay: Relay | None) -> None:
        if relay is not None and self.stdin_once and not self.tty:
            relay.end_input()

    def _drop(self, fd: int, relay: Relay | None) -> None:
        self.poller.unregister(fd)
        self.viewers.pop(fd).close()
        del self.backlog[fd]
        if fd in self.feeding:
            self.feeding.discard(fd)
            self._input_ended(relay)

    def warn(self, text: str) -> None:
        """A warning of the monitor's own, for every viewer's stderr."""
        self._post(b"e" + text.encode())

    def send(self, stream: str, data: bytes) -> None:
        """Output to every viewer, now or, for one that cannot take it yet, from its backlog."""
        self._post((b"1" if stream == "stdout" else b"2") + data)

    def _post(self, message: bytes) -> None:
        for fd in list(self.viewers):
            waiting = self.backlog[fd]
            waiting.append(message)
            if len(waiting) == 1:
                self._flush(fd)
            elif sum(map(len, waiting)) > _BACKLOG:
                self._drop(fd, None)

    def _flush(self, fd: int) -> bool:
        """Send what ``fd``'s backlog holds, as far as it takes it; False when it was dropped."""
        waiting = self.backlog[fd]
        try:
            while waiting:
                self.viewers[fd].send(waiting[0])
                waiting.pop(0)
        except BlockingIOError:
            pass
        except OSError:
            self._drop(fd, None)
            return False
        self.poller.modify(fd, select.POLLIN | (select.POLLOUT if waiting else 0))
        return True

    def stop_listening(self) -> None:
        """No new viewers: called before the exit is recorded, so that a new start's monitor
        never loses its socket to us."""
        if self.listener is None or self.listener.fileno() < 0:
            return
        self.listener.close()
        try:
            os.unlink(f"{self.directory}/{SOCKET}")
        except FileNotFoundError:
            pass

    def finish(self, code: int | None) -> None:
        """Send the viewers their backlogs and the exit code (None: none, the monitor failed),
        and stop listening.

        Each viewer is closed once it has closed its end (within ``_GOODBYE`` in all): a
        socket closed with unread input in it would reset the viewer's end before it read
        the exit code."""
        self.stop_listening()
        deadline = time.monotonic() + _GOODBYE
        if code is not None:
            for waiting in self.backlog.values():
                waiting.append(b"x%d" % code)
        self.flush(_GOODBYE)
        poller = select.poll()
        for fd in self.viewers:
            poller.register(fd, select.POLLIN)
        while self.viewers and (left := deadline - time.monotonic()) > 0 and (ready := poller.poll(left * 1000)):
            for fd, _events in ready:
                try:
                    gone = not self.viewers[fd].recv(_MESSAGE)
                except OSError:
                    gone = True
                if gone:
                    poller.unregister(fd)
                    self.viewers.pop(fd).close()
        for viewer in self.viewers.values():
            viewer.close()
        self.viewers, self.backlog = {}, {}


# ---------------------------------------------------------------- the viewer's side


def parse_detach_keys(value: str) -> bytes:
    """Docker's ``--detach-keys`` ("ctrl-p,ctrl-q", "a,ctrl-@"...) as the bytes to look for."""
    keys = b""
    for key in value.split(","):
        low = key.strip().lower()
        if len(key) == 1:
            keys += key.encode()
        elif low.startswith("ctrl-") and len(low) == 6 and (low[5].isalpha() or low[5] in "@[\\]^_"):
            keys += bytes([ord(low[5].upper()) & 0x1F])
        else:
            raise ValueError(f"Unknown character: '{key}'")
    if not keys:
        raise ValueError("invalid detach keys: none given")
    return keys


class DetachKeys:
    """Watches typed input for the detach sequence; what it holds back is sent once it proves
    not to be the sequence."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The input to send on, and whether the sequence was typed (then nothing after it is sent)."""
        out = b""
        for byte in data:
            self.held += bytes([byte])
            while self.held and not self.keys.startswith(self.held):
                out, self.held = out + self.held[:1], self.held[1:]
            if self.held == self.keys:
                return out, True
        return out, False


DETACHED, CLOSED, LOST = "detached", "closed", "lost"
CLOSED_OUTPUT = 141  # a viewer's exit status once its output's reader left, as a writer's killed by SIGPIPE
_SENT, _ENDED = "sent", "ended"


def view_monitor(sock: socket, monitor: int, stdin: int | None, stdout: int, stderr: int, tty: bool,
                 sig_proxy: bool, detach_keys: bytes | None) -> int | str:
    """``view``, and once the monitor (PID ``monitor``, alive now) has finished, wait until it
    exited: within ``_EXIT_WAIT`` after it sent the exit code, or however long it takes after
    it went without one (a viewer too slow for the output is dropped, and its monitor runs on
    until the container exits; a killed one is gone already)."""
    try:
        watch: int | None = os.pidfd_open(monitor)
    except OSError:  # gone already
        watch = None
    try:
        outcome = view(sock, stdin, stdout, stderr, tty, sig_proxy, detach_keys)
        if watch is not None and outcome not in (DETACHED, CLOSED):
            select.select([watch], [], [], None if outcome == LOST else _EXIT_WAIT)
        return outcome
    finally:
        if watch is not None:
            os.close(watch)


def view(sock: socket, stdin: int | None, stdout: int, stderr: int, tty: bool, sig_proxy: bool,
         detach_keys: bytes | None) -> int | str:
    """Relay until the exit code arrives (returned) or: ``DETACHED`` (the detach keys were
    typed), ``CLOSED`` (the reader of our output is gone), ``LOST`` (the monitor went away
    without an exit code). With ``tty`` our input's terminal is raw meanwhile."""
    try:
        if tty and stdin is not None:
            with RawTerminal(stdin):
                return _view(sock, stdin, stdout, stderr, tty, sig_proxy, detach_keys)
        return _view(sock, stdin, stdout, stderr, tty, sig_proxy, detach_keys)
    finally:
        sock.close()


def _view(sock: socket, stdin: int | None, stdout: int, stderr: int, tty: bool, sig_proxy: bool,
          detach_keys: bytes | None) -> int | str:
    import signal  # the viewer's alone: its enum module would cost every monitor memory

    sock.sendall(b"ai" if stdin is not None else b"a")
    previous: dict[int, object] = {}
    if tty and os.isatty(stdout):
        _send_window_size(sock, stdout)
        previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, lambda _s, _f: _send_window_size(sock, stdout))
    if sig_proxy:
        for sig in signal.Signals:
            if sig.name not in _NOT_FORWARDED:
                try:
                    previous[sig] = signal.signal(sig, lambda s, _f: _send(sock, b"k%d" % s))
                except (OSError, ValueError):
                    pass
    try:
        return _relay(sock, stdin, stdout, stderr, DetachKeys(detach_keys) if tty and detach_keys else None)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]  # what signal.signal returned


def viewer_exit(outcome: int | str) -> int | None:
    """A viewer's exit status for ``view``'s outcome: the exit code, 0 once detached, 141 when
    its output's reader left; None when the monitor went away without telling."""
    if isinstance(outcome, int):
        return outcome
    return {DETACHED: 0, CLOSED: CLOSED_OUTPUT}.get(outcome)


def _relay(sock: socket, stdin: int | None, stdout: int, stderr: int, keys: DetachKeys | None) -> int | str:
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    if stat.S_ISFIFO(os.fstat(stdout).st_mode):
        poller.register(stdout, 0)  # POLLERR alone: the pipe's reader is gone
    if stdin is not None:
        poller.register(stdin, select.POLLIN)
    while True:
        for fd, _events in poller.poll():
            if fd == sock.fileno():
                try:
                    message = sock.recv(_MESSAGE)
                except OSError:  # reset: the monitor died
                    message = b""
                if not message:
                    return LOST
                if message[:1] == b"x":
                    return int(message[1:])
                try:
                    write_all(stdout if message[:1] == b"1" else stderr, message[1:])  # "2", "e": stderr
                except BrokenPipeError:
                    return CLOSED
                except OSError:  # a terminal hung up: the container goes on, and so do we
                    pass
            elif fd == stdin:
                outcome = _forward(sock, fd, keys)
                if outcome == DETACHED:
                    return DETACHED
                if outcome == _ENDED:
                    poller.unregister(fd)
                    stdin = None
            else:
                return CLOSED


def _forward(sock: socket, stdin: int, keys: DetachKeys | None) -> str:
    """Send one read of input: ``_SENT``, ``_ENDED`` (an empty message said so) or ``DETACHED``."""
    try:
        data = os.read(stdin, 65536)
    except OSError:
        data = b""
    if not data:
        _send(sock, b"0")
        return _ENDED
    detached = False
    if keys is not None:
        data, detached = keys.feed(data)
    if data:
        _send(sock, b"0" + data)
    return DETACHED if detached else _SENT


def _send(sock: socket, message: bytes) -> None:
    try:
        sock.sendall(message)
    except OSError:  # the monitor is gone: the next read says so
        pass


def _send_window_size(sock: socket, terminal: int) -> None:
    size = window_size(terminal)
    if size is not None:
        _send(sock, b"w" + size)
