"""Threads for pull and push (``freight.registry.jobs``): a few jobs at a time, results and errors handed over."""

from __future__ import annotations

import threading
import time

import pytest

from freight.registry.jobs import Cancelled, Jobs, beside


def test_at_most_workers_jobs_run_at_once_and_each_result_comes_back() -> None:
    running, most = [0], [0]
    lock = threading.Lock()

    def job(n: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return n * n

    with Jobs(3) as jobs:
        waits = [jobs.submit(lambda n=n: job(n)) for n in range(10)]
        assert [wait() for wait in waits] == [n * n for n in range(10)]
    assert most[0] == 3


def test_a_failure_is_raised_to_the_waiter_and_cancel_drops_queued_jobs() -> None:
    started: list[int] = []
    began, gate = threading.Event(), threading.Event()

    def job(n: int) -> None:
        started.append(n)
        began.set()
        gate.wait()
        if n == 0:
            raise ValueError("layer 0 broke")

    with Jobs(1) as jobs:
        first = jobs.submit(lambda: job(0))
        queued = [jobs.submit(lambda n=n: job(n)) for n in (1, 2)]
        assert began.wait(10)
        jobs.cancel()
        gate.set()
        with pytest.raises(ValueError, match="layer 0 broke"):
            first()
        with pytest.raises(Cancelled):
            queued[0]()
    assert started == [0]


def test_beside_gives_the_result_or_the_exception() -> None:
    assert beside(lambda: 42)() == 42
    with pytest.raises(KeyError):
        beside(lambda: {}["missing"])()
