"""Every container belongs to its monitor: a ``freight run`` client killed outright
(``kill -9``) leaves its container running, and an ``--rm`` one is removed by its
monitor once it exits; a monitor killed outright is finished by the next command
that looks at its container: recorded as exited (137), or with ``--rm`` removed
entirely: record, directory, cgroups, volumes, mounts."""

from __future__ import annotations

import json
import os
import pty
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from testlib import T, freight_cgroups, freight_mounts, freight_process, processes_mentioning, wait_until

from freight.errors import NotFound
from freight.runtime import cgroups, containers, limits, records
from freight.store import Store


def _client(root: Path, *args: str, tty: bool = False) -> subprocess.Popen:
    """``freight ARGS`` with /dev/null as its streams, or (``tty``) a terminal of its own."""
    if not tty:
        return freight_process(root, *args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    master, slave = pty.openpty()
    proc = freight_process(root, *args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    proc.master = master  # type: ignore[attr-defined]  # closed by the test once the client is gone
    return proc


def _row(root: Path, cid: str) -> dict | None:
    with closing(sqlite3.connect(f"file:{root / 'metadata.db'}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT state FROM containers WHERE id = ?", (cid,)).fetchone()
    return json.loads(row[0]) if row else None


def _until(condition: Callable[[], T], what: str) -> T:
    """``condition``'s first true answer, asked every half millisecond, not to miss a moment."""
    value = wait_until(condition, timeout=30, interval=0.0005)
    assert value, f"{what} never happened"
    return value


def _new_directory(root: Path) -> str | None:
    try:
        names = os.listdir(root / "containers")
    except FileNotFoundError:
        return None
    return names[0] if names else None


def _command_runs(root: Path, cid: str, command: bytes = b"sleep") -> bool:
    state = _row(root, cid)
    if not state or not state.get("Pid"):
        return False
    try:
        return Path(f"/proc/{state['Pid']}/cmdline").read_bytes().startswith(command)
    except OSError:
        return False


def _stop_at(root: Path, moment: str) -> tuple[subprocess.Popen, str, bool]:
    """Start ``freight run --rm`` and stop it (SIGSTOP) at ``moment``; (client, ID, recorded yet)."""
    client = _client(root, "run", "--rm", "-v", "/data", "busybox", "sleep", "2")
    cid = str(_until(lambda: _new_directory(root), "the container's directory"))
    if moment != "created":
        _until(lambda: _command_runs(root, cid), "the container's command")
        time.sleep(0.2 if moment == "later" else 0)
    client.send_signal(signal.SIGSTOP)
    return client, cid, _row(root, cid) is not None


def _assert_nothing_left(store: Store, cli, cid: str) -> None:
    root = store.root
    assert cli("ps", "-a", "-q", "--no-trunc", check=True).stdout == ""
    assert _row(root, cid) is None
    assert not (root / "containers" / cid).exists()
    assert freight_cgroups([cid]) == []
    assert cli("volume", "ls", "-q", check=True).stdout == ""
    assert not (root / "volumes").exists() or os.listdir(root / "volumes") == []
    assert freight_mounts(root) == []


@pytest.mark.parametrize("moment", ["created", "running", "later"])
def test_kill_9_of_run_rm_leaves_nothing_once_the_container_exited(runtime_store: Store, cli, moment: str) -> None:
    """``created``: killed while it starts the container, before its record is written (caught
    at the first try almost always: the try is repeated until it is; what it left, the next
    ``ps`` removes); ``running``: as soon as the command runs; ``later``: a moment after. The
    container runs on, and its monitor removes it once it exits."""
    for _attempt in range(5):
        client, cid, recorded = _stop_at(runtime_store.root, moment)
        if recorded:
            assert _row(runtime_store.root, cid)["Running"] or moment == "created"
        client.kill()
        client.wait()
        if moment != "created":
            assert _row(runtime_store.root, cid)["Running"]  # the client's death changed nothing
        _until(lambda: not processes_mentioning(str(runtime_store.root)), "the monitor's end")
        _assert_nothing_left(runtime_store, cli, cid)
        if recorded == (moment != "created"):
            return
    pytest.fail(f"the client was never stopped at {moment}")


@pytest.mark.parametrize("tty", [False, True], ids=["pipes", "tty"])
def test_kill_9_of_run_leaves_the_container_running_to_attach_and_follow(runtime_store: Store, cli,
                                                                         tty: bool) -> None:
    args = ["run", "--name", "kept", *(["-it"] if tty else []), "-v", "/data", "busybox", "sh", "-c",
            "while :; do echo tick; sleep 0.1; done"]
    client = _client(runtime_store.root, *args, tty=tty)
    cid = str(_until(lambda: _new_directory(runtime_store.root), "the container's directory"))
    _until(lambda: _command_runs(runtime_store.root, cid, b"sh"), "the container's command")
    client.kill()
    client.wait()
    if tty:
        os.close(client.master)  # type: ignore[attr-defined]
    time.sleep(0.3)
    state = _row(runtime_store.root, cid)
    assert state is not None and state["Running"]
    assert cli("ps", "--format", "{{.Names}} {{.Status}}", check=True).stdout.startswith("kept Up")

    viewer = freight_process(runtime_store.root, "attach", "--no-stdin", "kept", stdout=subprocess.PIPE)
    assert viewer.stdout.readline().strip() == b"tick"  # output goes on, through the monitor
    viewer.kill()
    viewer.wait()
    follower = freight_process(runtime_store.root, "logs", "-f", "kept", stdout=subprocess.PIPE)
    for _line in range(30):  # the log holds what was printed while no one watched
        assert follower.stdout.readline().strip() == b"tick"
    cli("stop", "-t", "0", "kept", check=True)
    follower.communicate(timeout=30)
    assert follower.returncode == 0  # the follower ends with the container
    state = _row(runtime_store.root, cid)
    assert state is not None and not state["Running"] and state["ExitCode"] == 137
    assert freight_cgroups([cid]) == []
    cli("rm", "-v", "kept", check=True)
    _assert_nothing_left(runtime_store, cli, cid)


def test_kill_9_of_a_detached_containers_monitor(runtime_store: Store, cli) -> None:
    cid = cli("run", "-d", "--rm", "-v", "/data", "busybox", "sleep", "60", check=True).stdout.strip()
    state = _row(runtime_store.root, cid)
    assert state is not None
    os.kill(state["MonitorPid"], signal.SIGKILL)
    _until(lambda: not Path(f"/proc/{state['Pid']}").exists(), "the container's end")
    with pytest.raises(NotFound, match="No such container"):
        containers.get(runtime_store, cid)  # ``inspect``, ``rm`` ... finish it as ``ps`` does
    _assert_nothing_left(runtime_store, cli, cid)


def test_kill_9_of_a_monitor_leaves_its_container_exited(runtime_store: Store, cli) -> None:
    """The viewer (``run``) learns it from the record: 137, as the container was killed."""
    client = freight_process(runtime_store.root, "run", "--name", "orphan", "busybox", "sleep", "60",
                             stdout=subprocess.DEVNULL)
    cid = str(_until(lambda: _new_directory(runtime_store.root), "the container's directory"))
    _until(lambda: _command_runs(runtime_store.root, cid), "the container's command")
    _until(lambda: (runtime_store.root / "containers" / cid / "attach.sock").exists(), "the monitor's channel")
    time.sleep(0.3)  # the monitor has told the client the command runs, and the client views it
    state = _row(runtime_store.root, cid)
    os.kill(state["MonitorPid"], signal.SIGKILL)
    assert client.wait(timeout=30) == 137
    assert cli("ps", "-a", "--format", "{{.Names}} {{.Status}}", check=True).stdout.startswith("orphan Exited (137)")
    state = _row(runtime_store.root, cid)
    assert not state["Running"] and state["ExitCode"] == 137 and "MonitorPid" not in state
    assert freight_cgroups([cid]) == []
    cli("start", "orphan", check=True)  # it can run again
    assert _row(runtime_store.root, cid)["Running"]
    cli("rm", "-f", "-v", "orphan", check=True)
    _assert_nothing_left(runtime_store, cli, cid)


def _layouts() -> dict[str, cgroups.Layout]:
    """The three layouts, as this host's hierarchies can be combined (a hybrid host has all)."""
    host = cgroups.detect_layout()
    found = {host.mode: host}
    if host.mode == "hybrid":
        found["v1"] = cgroups.Layout("v1", host.v1)
        found["v2"] = cgroups.Layout("v2", {}, host.v2_root)
    return found


@pytest.mark.parametrize("mode", ["v1", "v2", "hybrid"])
def test_a_dead_supervisors_cgroups_go_in_every_layout(runtime_store: Store, cli, mode: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    layout = _layouts().get(mode)
    if layout is None:
        pytest.skip(f"this host's cgroup hierarchies make no {mode} layout")
    cid = cli("create", "busybox", "sleep", "60", check=True).stdout.strip()
    monkeypatch.setattr(cgroups, "detect_layout", lambda root=cgroups.CGROUP_ROOT: layout)
    group = cgroups.create(cid, limits.Resources(), layout)
    left = subprocess.Popen(["sleep", "60"])  # a process its killed supervisor left in its cgroups
    group.add(left.pid)
    gone = subprocess.Popen(["true"])
    gone.wait()
    with closing(sqlite3.connect(runtime_store.root / "metadata.db")) as db, db:
        state = {**records.new_state("running"), "Running": True, "Pid": left.pid,
                 "MonitorPid": gone.pid, "MonitorStartTime": "1"}
        db.execute("UPDATE containers SET state = ? WHERE id = ?", (json.dumps(state), cid))
    assert group.directories() and all(os.path.isdir(d) for d in group.directories())

    found = containers.list_containers(runtime_store, all=True)

    assert [(c.id, c.state["Status"], c.state["ExitCode"]) for c in found] == [(cid, "exited", 137)]
    assert left.wait(timeout=10) == -signal.SIGKILL
    assert not any(os.path.isdir(d) for d in group.directories())
    assert _row(runtime_store.root, cid)["Status"] == "exited"
