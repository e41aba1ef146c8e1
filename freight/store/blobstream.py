"""A blob's bytes handed from one thread to another as they are made or arrive.

``freight pull`` unpacks a layer from the download feeding its blob; ``freight push``
uploads a layer's gzip output while it is compressed. ``beside`` runs one side of
such a pair on a thread of its own.
"""

from __future__ import annotations

import queue
import threading

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")

CHUNK = 1 << 20
STREAM_DEPTH = 16  # MiB a BlobStream holds before its producer waits for the reader


class Abandoned(Exception):
    """Raised by ``BlobStream.read`` when the download feeding it gave up or started over."""


class BlobStream:
    """A blob's bytes handed from a download to a reader on another thread, as they arrive.

    A file-like for the reader (``read``). The reader sees the end of the
    stream only once the download has verified the whole blob against its
    digest; if the download fails, or starts over, ``read`` raises
    ``Abandoned``. The producer waits while ``STREAM_DEPTH`` chunks are
    unread; once the reader calls ``close`` (done, or failed), further bytes
    are dropped, so a download never waits on a reader that stopped.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(STREAM_DEPTH)
        self._closed = False
        self._abandoned = False
        self._ended = False
        self._error: BaseException | None = None
        self._head = b""

    # -- the producer's side
    def feed(self, chunk: bytes) -> None:
        self._put(bytes(chunk))

    def end(self) -> None:
        self._put(None)

    def abandon(self) -> None:
        if not self._abandoned:
            self._abandoned = True
            self._put(Abandoned("the download feeding this stream was abandoned"))

    def _put(self, item: bytes | BaseException | None) -> None:
        if not self._closed:  # after close, at most one item lands in the drained queue
            self._queue.put(item)

    # -- the reader's side
    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        if self._error is not None:
            raise self._error
        if not self._head and not self._ended:
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._error = item
                raise item
            if item is None:
                self._ended = True
            else:
                self._head = item
        data, self._head = self._head[:size], self._head[size:]
        return data

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def beside(work: Callable[[], T]) -> Callable[[], T]:
    """Run ``work`` on a thread of its own; return a function that waits and gives its result or raises."""
    results: list[T] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            results.append(work())
        except BaseException as err:  # handed to whoever waits
            failures.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def wait() -> T:
        thread.join()
        if failures:
            raise failures[0]
        return results[0]

    return wait
