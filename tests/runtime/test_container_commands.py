"""pause/unpause, update, rename, diff, export and commit, on real containers; where the
private dockerd runs, their output and errors side by side with Docker's."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from testlib import CGROUP_ROOT, CLI, FREIGHT, freight_env, wait_until

from freight.store import Store

_COUNTER = "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done"
_CHANGES = "echo hi > /tmp/x; rm /etc/passwd; mkdir /new; sleep 1000"


def _docker(command: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)


def _count(pid: int) -> str:
    return Path(f"/proc/{pid}/root/tmp/n").read_text()


def _freezer_state(cid: str) -> str:
    v1 = CGROUP_ROOT / "freezer" / "freight" / cid / "freezer.state"
    if v1.exists():
        return v1.read_text().strip()
    return {"1": "FROZEN", "0": "THAWED"}[(CGROUP_ROOT / "freight" / cid / "cgroup.freeze").read_text().strip()]


def test_pause_freezes_and_unpause_thaws(busybox_store: Store, cli: CLI) -> None:
    cid = cli("run", "-d", "--name", "counter", "busybox", "sh", "-c", _COUNTER, check=True).stdout.strip()
    pid = int(cli("inspect", "-f", "{{.State.Pid}}", "counter", check=True).stdout)
    assert wait_until(lambda: Path(f"/proc/{pid}/root/tmp/n").exists())
    assert cli("pause", "counter", check=True).stdout == "counter\n"
    assert _freezer_state(cid) == "FROZEN"
    frozen = _count(pid)
    time.sleep(0.5)
    assert _count(pid) == frozen
    state = json.loads(cli("inspect", "-f", "{{json .State}}", "counter").stdout)
    assert (state["Status"], state["Running"], state["Paused"]) == ("paused", True, True)
    assert cli("ps", "--format", "{{.Status}}").stdout.endswith(" (Paused)\n")
    again = cli("pause", "counter")
    assert again.returncode == 1 and again.stderr == \
        f"Error response from daemon: Container {cid} is already paused\n"
    cli("unpause", "counter", check=True)
    assert _freezer_state(cid) == "THAWED"
    assert wait_until(lambda: _count(pid) != frozen)
    assert cli("unpause", "counter").stderr == f"Error response from daemon: Container {cid} is not paused\n"
    cli("pause", "counter", check=True)
    cli("kill", "counter", check=True)  # a paused container is killed, as Docker's is
    assert cli("wait", "counter", timeout=20).stdout == "137\n"
    stopped = cli("pause", "counter")
    assert stopped.returncode == 1 and f"Container {cid} is not running" in stopped.stderr


def test_update_changes_a_running_containers_limits(busybox_store: Store, cli: CLI) -> None:
    cid = cli("run", "-d", "--name", "limited", "-m", "64m", "busybox", "sleep", "60", check=True).stdout.strip()
    assert cli("update", "-m", "100m", "--memory-swap", "200m", "--pids-limit", "50", "--cpus", "0.5",
               "limited", check=True).stdout == "limited\n"
    host = json.loads(cli("inspect", "-f", "{{json .HostConfig}}", "limited").stdout)
    assert (host["Memory"], host["MemorySwap"], host["PidsLimit"], host["NanoCpus"]) == \
        (100 * 2**20, 200 * 2**20, 50, 500_000_000)
    v1 = CGROUP_ROOT / "memory" / "freight" / cid / "memory.limit_in_bytes"
    limit = v1 if v1.exists() else CGROUP_ROOT / "freight" / cid / "memory.max"
    assert limit.read_text().strip() == str(100 * 2**20)
    pids = CGROUP_ROOT / "pids" / "freight" / cid / "pids.max"
    assert (pids if pids.exists() else CGROUP_ROOT / "freight" / cid / "pids.max").read_text().strip() == "50"
    bare = cli("update", "limited")
    assert (bare.returncode, bare.stderr) == (1, "you must provide one or more flags when using this command\n")
    tiny = cli("update", "-m", "1m", "limited")
    assert tiny.returncode == 1 and "Minimum memory limit allowed is 6MB" in tiny.stderr
    cli("rm", "-f", "limited", check=True)


def test_rename(busybox_store: Store, cli: CLI) -> None:
    cid = cli("create", "--name", "before", "busybox", "true", check=True).stdout.strip()
    other = cli("create", "--name", "other", "busybox", "true", check=True).stdout.strip()
    cli("rename", "before", "after", check=True)
    assert cli("inspect", "-f", "{{.Name}} {{.Id}}", "after").stdout == f"/after {cid}\n"
    assert cli("inspect", "before").returncode == 1
    same = cli("rename", "after", "after")
    assert (same.returncode, same.stderr) == (1, "Error response from daemon: Renaming a container with the same "
                                                 "name as its current name\nError: failed to rename container "
                                                 "named after\n")
    taken = cli("rename", "after", "other")
    assert taken.returncode == 1 and f'is already in use by container "{other}"' in taken.stderr
    assert cli("create", "--name", "before", "busybox", "true").returncode == 0  # the old name is free


@pytest.fixture
def changed(runtime_store: Store, cli: CLI) -> str:
    """A running container that added /tmp/x and /new and deleted /etc/passwd (removed after
    the test by ``runtime_store``)."""
    cli("run", "-d", "--name", "changed", "busybox", "sh", "-c", _CHANGES, check=True)
    pid = int(cli("inspect", "-f", "{{.State.Pid}}", "changed").stdout)
    assert wait_until(lambda: Path(f"/proc/{pid}/root/new").is_dir())
    return "changed"


def test_diff_lists_changes_as_dockers(changed: str, cli: CLI, docker_busybox: list[str]) -> None:
    ours = cli("diff", changed, check=True).stdout.splitlines()
    assert ours == ["C /etc", "D /etc/passwd", "A /new", "C /tmp", "A /tmp/x"]
    _docker(docker_busybox, "rm", "-f", "changed")
    _docker(docker_busybox, "run", "-d", "--name", "changed", "--network", "none", "busybox", "sh", "-c", _CHANGES)
    theirs: list[str] = wait_until(lambda: sorted(_docker(docker_busybox, "diff", "changed").stdout.splitlines())
                                   if "A /tmp/x" in _docker(docker_busybox, "diff", "changed").stdout else [])
    assert sorted(ours) == theirs
    _docker(docker_busybox, "rm", "-f", "changed")


def test_export_writes_the_whole_filesystem(changed: str, cli: CLI, busybox_store: Store, tmp_path: Path) -> None:
    cli("export", "-o", str(tmp_path / "fs.tar"), changed, check=True)
    with tarfile.open(tmp_path / "fs.tar") as tar:
        names = set(tar.getnames())
        assert tar.extractfile("tmp/x").read() == b"hi\n"  # type: ignore[union-attr]
    assert {"bin/busybox", "tmp/x", "new"} <= names
    assert "etc/passwd" not in names and not any(n.startswith("proc/") for n in names)
    streamed = subprocess.run([str(FREIGHT), "export", changed], capture_output=True,
                              env=freight_env(busybox_store.root), timeout=60)
    with tarfile.open(fileobj=io.BytesIO(streamed.stdout)) as tar:
        assert set(tar.getnames()) == names


def test_commit_makes_an_image_of_the_changes(changed: str, cli: CLI) -> None:
    out = cli("commit", "-c", 'CMD ["cat", "/tmp/x"]', "-m", "saved", "-a", "me", changed, "saved:1", check=True)
    image_id = out.stdout.strip()
    assert image_id.startswith("sha256:")
    assert cli("run", "--rm", "saved:1", check=True).stdout == "hi\n"
    assert cli("run", "--rm", "saved:1", "ls", "/etc/passwd").returncode != 0
    info = json.loads(cli("image", "inspect", "saved:1").stdout)[0]
    assert (info["Id"], info["Comment"], info["Author"], info["Config"]["Cmd"]) == \
        (image_id, "saved", "me", ["cat", "/tmp/x"])
    assert cli("inspect", "-f", "{{.State.Status}}", changed).stdout == "running\n"  # thawed after
    assert cli("commit", "--pause=false", changed).returncode == 0
