"""Work on threads for pull and push: a few jobs at a time (``Jobs``), or one beside (``beside``).

What they need of ``concurrent.futures``, which imports ``logging`` (a few
milliseconds of every pull and push before its first request). A job's result
or exception is handed to whoever waits for it.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class Cancelled(Exception):
    """Raised by waiting for a job that ``Jobs.cancel`` dropped."""


class _Job(Generic[T]):
    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._done = threading.Event()
        self._outcome: tuple[bool, Any] = (False, None)

    def run(self) -> None:
        try:
            self._outcome = (True, self._work())
        except BaseException as err:  # handed to whoever waits
            self._outcome = (False, err)
        self._done.set()

    def drop(self) -> None:
        self._outcome = (False, Cancelled("the job was cancelled before it started"))
        self._done.set()

    def wait(self) -> T:
        """The job's result once it ran; its exception raised again if it failed."""
        self._done.wait()
        ok, value = self._outcome
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]


def beside(work: Callable[[], T]) -> Callable[[], T]:
    """Run ``work`` on a thread of its own; return a function that waits and gives its result or raises."""
    job = _Job(work)
    threading.Thread(target=job.run, daemon=True).start()
    return job.wait


class Jobs:
    """Up to ``workers`` threads running submitted jobs in order; leaving the block waits for them."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._running = 0  # threads not yet out of work
        self._queue: deque[_Job[Any]] = deque()
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], T]) -> Callable[[], T]:
        """Queue ``work``; return a function that waits for it and gives its result or raises."""
        job = _Job(work)
        with self._lock:
            self._queue.append(job)
            if self._running < self._workers:
                self._running += 1
                self._threads.append(threading.Thread(target=self._serve, daemon=True))
                self._threads[-1].start()
        return job.wait

    def cancel(self) -> None:
        """Drop the jobs not started yet: waiting for one raises Cancelled."""
        with self._lock:
            dropped, self._queue = self._queue, deque()
        for job in dropped:
            job.drop()

    def _serve(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._running -= 1
                    return
                job = self._queue.popleft()
            job.run()

    def __enter__(self) -> Jobs:
        return self

    def __exit__(self, *exc: object) -> None:
        for thread in self._threads:
            thread.join()
