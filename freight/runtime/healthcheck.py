"""The health checker: run by a container's monitor, it runs the container's health check and
records the results in the container's state for ``ps`` and ``inspect`` (``health``).

The monitor forks the checker once the container's command runs (``start``) and
kills it when the container exits (``stop``). The checker runs the test command
in the container's namespaces and cgroup as ``exec`` does, every interval (the
start interval during the start period), kills it after the timeout, and writes
``State.Health`` into the container's row on its own (the monitor's writes keep
it: ``records.SHARED_STATE``).
"""

from __future__ import annotations

import json
import os
import select
import signal
import time

from freight.errors import FreightError
from freight.pids import alive
from freight.runtime import syscalls as sc
from freight.runtime.handoff import Stdio
from freight.runtime.health import SECOND, STARTING, UNHEALTHY, check_of, command, record
from freight.runtime.launch import fork_container, wait_exec
from freight.runtime.signals import exit_code
from freight.runtime.times import go_duration, timestamp
from freight.store import open_store
from freight.store.db import transaction

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from freight.runtime.records import Container
    from freight.store import Store

_OUTPUT_LIMIT = 4096
_EXIT_GRACE = 0.1  # seconds a failed check waits to see whether the container is exiting


def start(store: Store, c: Container, inherited: tuple[int, ...] = ()) -> int | None:
    """In the monitor, once ``c``'s command runs: fork its checker, which closes the monitor's
    fds ``inherited`` (its report pipe, its viewer: their readers wait for their end); its PID
    (None without a check). The health starts again as ``starting``."""
    check = check_of(c.config)
    if check is None:
        return None
    _write(store, c.id, {"Status": STARTING, "FailingStreak": 0, "Log": []})
    root = store.root_path
    pid = os.fork()
    if pid == 0:
        _be_checker(root, c, check, inherited)
    return pid


def stop(store: Store, cid: str, pid: int | None) -> None:
    """Kill and reap the checker ``pid`` (and the check it runs, which dies with it) of the
    container ``cid``, which exited: as Docker's, its health is ``unhealthy`` then."""
    if pid is None:
        return
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    with transaction(store.db) as db:
        db.execute("UPDATE containers SET state = json_set(state, '$.Health.Status', ?) "
                   "WHERE id = ? AND json_type(state, '$.Health') IS NOT NULL", (UNHEALTHY, cid))


def _be_checker(root: str, c: Container, check: dict[str, Any], inherited: tuple[int, ...]) -> NoReturn:
    code = 0
    try:
        sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with its monitor
        for fd in inherited:
            os.close(fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _check_forever(open_store(root), c, check)
    except BaseException:
        import traceback  # only for the checker's own failure, written to the monitor's log

        traceback.print_exc()
        code = 1
    os._exit(code)


def _check_forever(store: Store, c: Container, check: dict[str, Any]) -> None:
    started = time.monotonic()
    period = check["StartPeriod"] / SECOND
    health: dict[str, Any] = {"Status": STARTING, "FailingStreak": 0, "Log": []}
    while True:
        in_start_period = time.monotonic() - started < period
        interval = check["StartInterval"] if in_start_period and health["Status"] == STARTING else check["Interval"]
        time.sleep(interval / SECOND)
        result = probe(store, c, command(check["Test"]), check["Timeout"])
        if result["ExitCode"] != 0 and not _running(c):
            return  # the container exited meanwhile: its monitor ends the health
        in_start_period = time.monotonic() - started < period
        health = record(health, result, check["Retries"], in_start_period)
        _write(store, c.id, health)


def _running(c: Container) -> bool:
    """Whether ``c``'s process still runs a moment after a check failed: a check fails too when
    the container is being killed (its processes die with it), which is no result to record."""
    try:
        fd = os.pidfd_open(c.pid)
    except OSError:
        return False
    try:
        if not alive(c.pid, c.state.get("StartTime")):
            return False
        return not select.select([fd], [], [], _EXIT_GRACE)[0]
    finally:
        os.close(fd)


def probe(store: Store, c: Container, argv: list[str], timeout_ns: int) -> dict[str, Any]:
    """Run ``argv`` in the running ``c``; Docker's log entry of the result (exit code -1 on timeout)."""
    from freight.runtime.execute import exec_spec  # only the checker process needs it

    begun = timestamp()
    deadline = time.monotonic() + timeout_ns / SECOND
    out_r, out_w = os.pipe()
    null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid, exec_r = fork_container(exec_spec(store, c, argv), Stdio(null, out_w, out_w), join_pid=c.pid)
    except FreightError as err:
        os.close(out_r)
        return _entry(begun, err.exit_code, str(err))
    finally:
        os.close(out_w)
        os.close(null)
    try:
        wait_exec(pid, exec_r)
    except FreightError as err:
        os.close(out_r)
        return _entry(begun, err.exit_code, str(err))
    output = _read_until(out_r, deadline)
    os.close(out_r)
    code = _wait_until(pid, deadline)
    if code is None:
        return _entry(begun, -1, f"Health check exceeded timeout ({go_duration(timeout_ns)})")
    return _entry(begun, code, output.decode(errors="replace"))


def _entry(begun: str, code: int, output: str) -> dict[str, Any]:
    return {"Start": begun, "End": timestamp(), "ExitCode": code, "Output": output[:_OUTPUT_LIMIT]}


def _read_until(fd: int, deadline: float) -> bytes:
    """What ``fd`` gives until its end or the deadline (at most the kept output)."""
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data = (data + chunk)[:_OUTPUT_LIMIT]
    return data


def _wait_until(pid: int, deadline: float) -> int | None:
    """Our child ``pid``'s exit code, or None (it is killed) when it runs past the deadline."""
    fd = os.pidfd_open(pid)
    try:
        if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
    finally:
        os.close(fd)
    return exit_code(os.waitpid(pid, 0)[1])


def _write(store: Store, cid: str, health: dict[str, Any]) -> None:
    with transaction(store.db) as db:
        db.execute("UPDATE containers SET state = json_set(state, '$.Health', json(?)) WHERE id = ?",
                   (json.dumps(health), cid))
