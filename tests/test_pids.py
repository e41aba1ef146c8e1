"""A PID with its start time names one process; a zombie is not alive."""

from __future__ import annotations

import os
import time

from freight.pids import alive, start_time


def test_a_running_process_is_alive_and_a_zombie_is_not() -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.read(r, 1)
        os._exit(0)
    try:
        started = start_time(pid)
        assert started is not None and alive(pid, started)
        assert not alive(pid, str(int(started) + 1))  # another process that got the same PID
        os.write(w, b"x")
        deadline = time.monotonic() + 10
        while alive(pid, started) and time.monotonic() < deadline:  # exited, not yet reaped
            time.sleep(0.01)
        assert start_time(pid) == started  # still there, as a zombie
        assert not alive(pid, started)
    finally:
        os.close(r)
        os.close(w)
        os.waitpid(pid, 0)
    assert not alive(pid, started)
