"""A running container's standard streams: the json-file log, and a viewer's terminal.

The container's stdout and stderr are pipes (or one pty with ``-t``) read by
its monitor, which appends them, a line per record, to ``<id>-json.log`` in
Docker's json-file format (``JsonLog``) and hands them to its viewers
(``channel``), whose terminal is raw meanwhile (``RawTerminal``).
"""

from __future__ import annotations

import fcntl
import os
from _json import encode_basestring  # the C encoder: no json package import

from freight.runtime.times import timestamp

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

_MAX_LINE = 16 * 1024  # Docker splits longer lines into partial records of this size


def _json_string(text: str) -> str:
    escaped = encode_basestring(text)
    return escaped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class JsonLog:
    """Docker's json-file log: ``{"log":"text\\n","stream":"stdout","time":"...Z"}`` per line.

    With ``max_size`` (``--log-opt max-size``) a file that reaches it is rotated: ``PATH``
    becomes ``PATH.1``, ``PATH.1`` becomes ``PATH.2``..., keeping ``max_file`` files in all.
    """

    def __init__(self, path: str, max_size: int = 0, max_file: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self._fd: int | None = None
        self._size = 0
        self.partial = {"stdout": b"", "stderr": b""}  # the start of a line not yet ended, per stream

    def write(self, stream: str, data: bytes) -> None:
        buf = self.partial[stream] + data
        start = 0
        while (end := buf.find(b"\n", start)) >= 0:
            self._emit(stream, buf[start:end + 1])
            start = end + 1
        rest = buf[start:]
        while len(rest) >= _MAX_LINE:
            self._emit(stream, rest[:_MAX_LINE])
            rest = rest[_MAX_LINE:]
        self.partial[stream] = rest

    def close(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                self._emit(stream, rest)
        self.partial = {"stdout": b"", "stderr": b""}
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _emit(self, stream: str, raw: bytes) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            self._size = os.fstat(self._fd).st_size
        record = (f'{{"log":{_json_string(raw.decode("utf-8", "replace"))},'
                  f'"stream":"{stream}","time":"{timestamp()}"}}\n').encode()
        if self.max_size and self._size and self._size + len(record) > self.max_size:
            self._rotate()  # as Docker's: no file grows past max-size (unless one record is larger)
        os.write(self._fd, record)
        self._size += len(record)

    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        if self.max_file == 1:
            os.truncate(self.path, 0)
        else:
            for n in range(self.max_file - 1, 0, -1):
                older = f"{self.path}.{n - 1}" if n > 1 else self.path
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{n}")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = 0


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class RawTerminal:
    """The caller's terminal in raw mode while attached to ``-t``; restored on exit."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list[Any] | None = None

    def __enter__(self) -> RawTerminal:
        import termios  # this and the next: only -t needs them
        import tty

        if os.isatty(self.fd):
            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc: object) -> None:
        import termios

        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def window_size(fd: int | None) -> bytes | None:
    """The packed ``struct winsize`` of terminal ``fd``; None when it is not a terminal."""
    if fd is None or not os.isatty(fd):
        return None
    import termios  # this and the next: only -t needs them

    try:
        return fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None


def set_window_size(fd: int, size: bytes) -> None:
    import termios

    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, size)
    except OSError:
        pass
