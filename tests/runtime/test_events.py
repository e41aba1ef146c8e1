"""The store's event log: every freight process appends to one log, ``freight events`` reads it
as ``docker events`` reads the daemon's."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from testlib import CLI, freight_process

from freight.store import Store, events

_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (\w+) (\w+) (\S+)(?: \((.*)\))?")


def test_concurrent_writers_append_whole_lines(tmp_path: Path) -> None:
    code = ("import sys\nfrom freight.store import events\n"
            "for i in range(300): events.emit(sys.argv[1], 'container', 'create', f'{sys.argv[2]}-{i}', "
            "{'name': 'x' * 500})")
    writers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(n)]) for n in range(4)]
    assert all(w.wait(timeout=60) == 0 for w in writers)
    logged = events.read(str(tmp_path))
    assert len(logged) == 1200
    for n in range(4):  # each writer's events in its order
        ids = [e["id"] for e in logged if str(e["id"]).startswith(f"{n}-")]
        assert ids == [f"{n}-{i}" for i in range(300)]


def test_the_log_rotates_and_readers_read_both_files(tmp_path: Path) -> None:
    root = str(tmp_path)
    events.emit(root, "volume", "create", "first")
    with open(events.log_path(root), "ab") as f:  # fill it past the rotation size
        f.write(b"\n" * events.ROTATE_BYTES)
    events.emit(root, "volume", "create", "second")
    events.emit(root, "volume", "create", "third")
    assert os.path.getsize(events.log_path(root)) < 1000
    assert [e["Actor"]["ID"] for e in events.read(root)] == ["first", "second", "third"]  # type: ignore[index]


def test_read_window_and_filters(tmp_path: Path) -> None:
    root = str(tmp_path)
    events.emit(root, "container", "create", "c1", {"image": "busybox", "name": "one", "k": "v"})
    middle = time.time_ns()
    events.emit(root, "container", "die", "c2", {"image": "alpine", "name": "two", "exitCode": "3"})
    events.emit(root, "image", "tag", "sha256:abc", {"name": "busybox:latest"})
    assert [e["id"] for e in events.read(root, since_ns=middle)] == ["c2", "sha256:abc"]
    assert [e["id"] for e in events.read(root, until_ns=middle)] == ["c1"]

    def select(**filters: list[str]) -> list[object]:
        return [e["Actor"]["ID"] for e in events.read(root) if events.matches(e, filters)]  # type: ignore[index]

    assert select(type=["container"]) == ["c1", "c2"]
    assert select(event=["die", "tag"]) == ["c2", "sha256:abc"]
    assert select(container=["two"]) == ["c2"]
    assert select(container=["c1"], event=["die"]) == []
    assert select(image=["busybox"]) == ["c1"]
    assert select(label=["k=v"]) == ["c1"]
    assert select(label=["k"], type=["image"]) == []


def test_commands_and_monitors_log_container_events(busybox_store: Store, cli: CLI) -> None:
    start = time.time()
    cli("run", "--rm", "--name", "once", "busybox", "sh", "-c", "exit 3")
    cid = cli("run", "-d", "--name", "bg", "-l", "team=a", "busybox", "sleep", "60", check=True).stdout.strip()
    cli("stop", "-t", "0", "bg", check=True)
    cli("rm", "bg", check=True)
    out = cli("events", "--since", str(start), "--until", str(time.time()), check=True).stdout
    rows = [_LINE.fullmatch(line) for line in out.splitlines()]
    assert all(rows), out
    actions = [(m[1], m[2]) for m in rows if m]
    assert actions == [("container", a) for a in ("create", "start", "die", "destroy", "create", "start",
                                                   "kill", "kill", "die", "stop", "destroy")]
    bg = [m for m in rows if m and m[3] == cid]
    assert bg[0][4] == "image=busybox, name=bg, team=a"
    assert "exitCode=3" in rows[2][4]  # type: ignore[index]
    assert "signal=15" in bg[2][4] and "signal=9" in bg[3][4]  # -t 0: the stop signal, then SIGKILL
    only = cli("events", "--since", str(start), "--until", str(time.time()), "--filter", "container=bg",
               "--filter", "event=die", "--format", "{{.Actor.Attributes.name}} {{.Status}} {{.ID}}").stdout
    assert only == f"bg die {cid}\n"
    logged = json.loads(cli("events", "--since", str(start), "--until", str(time.time()),
                            "--format", "{{json .}}").stdout.splitlines()[0])
    assert sorted(logged) == ["Action", "Actor", "Type", "from", "id", "scope", "status", "time", "timeNano"]


def test_events_follows_until_interrupted(busybox_store: Store, cli: CLI) -> None:
    follower = freight_process(busybox_store.root, "events", "--filter", "type=container",
                               stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        cli("create", "--name", "later", "busybox", "true", check=True)
        line = follower.stdout.readline() if follower.stdout else ""
        assert " container create " in line and "name=later" in line
    finally:
        follower.terminate()
        follower.wait(timeout=10)


def test_volume_and_image_events(busybox_store: Store, cli: CLI) -> None:
    start = time.time()
    cli("volume", "create", "data", check=True)
    cli("volume", "rm", "data", check=True)
    cli("tag", "busybox", "mine:1", check=True)
    cli("rmi", "mine:1", check=True)
    out = cli("events", "--since", str(start), "--until", str(time.time()),
              "--format", "{{.Type}} {{.Action}} {{.Actor.ID}}").stdout
    assert out.splitlines() == ["volume create data", "volume destroy data", "image tag " +
                                busybox_store.resolve_image("busybox").id, "image untag mine:1"]
