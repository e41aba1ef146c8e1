"""``--gpus`` end to end through the CLI, with a CDI spec of the tests' own.

The spec (kind ``nvidia.com/gpu``, devices ``0`` and ``1``) exposes harmless device
nodes (/dev/null's numbers under other names), an environment variable, a bind mount
of a host file and OCI hooks of every stage; ``FREIGHT_CDI_SPEC_DIRS`` points freight at
it. The hooks record what they got, so the tests see when and where each one ran.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from testlib import freight_cgroups, freight_mounts

from freight.store import Store

HOOK_SCRIPT = """#!/bin/sh
# $1: the stage. Records the state JSON from stdin, our mount namespace, the container
# process's mount namespace and $HOOK_VAR (from the hook's own env) as one JSON line.
state=$(cat)
pid=$(printf '%s' "$state" | sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p')
self_mnt=$(readlink /proc/self/ns/mnt)
pid_mnt=$(readlink /proc/$pid/ns/mnt 2>/dev/null)
printf '{"stage":"%s","self_mnt":"%s","pid_mnt":"%s","var":"%s","state":%s}\\n' \\
    "$1" "$self_mnt" "$pid_mnt" "$HOOK_VAR" "$state" >> "$(dirname "$0")/hooks.jsonl"
"""


def _hook(stage: str, path: str, args: list[str], env: list[str] | None = None,
          timeout: int | None = None) -> dict[str, Any]:
    hook: dict[str, Any] = {"hookName": stage, "path": path, "args": args,
                            "env": env or ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}
    if timeout is not None:
        hook["timeout"] = timeout
    return hook


def _write_spec(directory: Path, hooks: list[dict[str, Any]], host_file: Path) -> None:
    devices = [{"name": str(n), "containerEdits": {
        "deviceNodes": [{"path": f"/dev/fakegpu{n}", "hostPath": "/dev/null"}],
        "env": [f"FAKEGPU{n}=present"]}} for n in (0, 1)]
    spec = {"cdiVersion": "0.6.0", "kind": "nvidia.com/gpu", "devices": devices,
            "containerEdits": {
                "env": ["CDI_VAR=hello-from-cdi"],
                "mounts": [{"hostPath": str(host_file), "containerPath": "/mnt/cdi-file",
                            "options": ["ro", "bind"]}],
                "hooks": hooks}}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fake-gpu.json").write_text(json.dumps(spec))


@pytest.fixture
def gpu_env(tmp_path: Path) -> dict[str, str]:
    """A CDI spec dir whose hooks log to tmp_path/hooks/hooks.jsonl; the CLI's env for it."""
    hooks_dir = tmp_path / "hooks"
    hooks_dir.mkdir()
    script = hooks_dir / "hook.sh"
    script.write_text(HOOK_SCRIPT)
    script.chmod(0o755)
    host_file = tmp_path / "host-file"
    host_file.write_text("a file from the host\n")
    hooks = [
        _hook("createRuntime", str(script), ["hook.sh", "createRuntime"],
              ["HOOK_VAR=runtime", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]),
        _hook("createContainer", str(script), ["hook.sh", "createContainer"],
              ["HOOK_VAR=container", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"], timeout=30),
        # startContainer runs in the container: /bin/sh is the image's busybox.
        _hook("startContainer", "/bin/sh", ["sh", "-c", "cat > /tmp/start-state.json"]),
        _hook("poststart", str(script), ["hook.sh", "poststart"]),
        _hook("poststop", str(script), ["hook.sh", "poststop"]),
    ]
    _write_spec(tmp_path / "cdi", hooks, host_file)
    return {"FREIGHT_CDI_SPEC_DIRS": f"{tmp_path / 'missing'}:{tmp_path / 'cdi'}"}


def _hook_records(env: dict[str, str]) -> list[dict[str, Any]]:
    log = Path(env["FREIGHT_CDI_SPEC_DIRS"].split(":")[-1]).parent / "hooks" / "hooks.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _container_ids(store: Store) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT id FROM containers")]


def test_gpus_all_applies_devices_env_mounts_and_hooks(runtime_store: Store, cli,
                                                       gpu_env: dict[str, str]) -> None:
    script = ("ls -l /dev/fakegpu0 /dev/fakegpu1; echo $CDI_VAR $FAKEGPU0 $FAKEGPU1; "
              "cat /mnt/cdi-file; echo written > /dev/fakegpu1 && echo write-ok; "
              "cat /tmp/start-state.json; echo; hostname")
    result = cli("run", "--rm", "--gpus", "all", "busybox", "sh", "-c", script, env=gpu_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    nodes = [line.split() for line in lines[:2]]
    for node, name in zip(nodes, ("/dev/fakegpu0", "/dev/fakegpu1")):
        assert node[0].startswith("c") and node[4:6] == ["1,", "3"] and node[-1] == name
    assert lines[2:5] == ["hello-from-cdi present present", "a file from the host", "write-ok"]
    start_state, hostname = json.loads(lines[5]), lines[6]
    assert start_state["status"] == "created" and start_state["id"].startswith(hostname)
    cid = start_state["id"]

    records = {r["stage"]: r for r in _hook_records(gpu_env)}
    assert list(records) == ["createRuntime", "createContainer", "poststart", "poststop"]
    host_mnt = os.readlink("/proc/self/ns/mnt")
    for stage, status in (("createRuntime", "creating"), ("createContainer", "creating"),
                          ("poststart", "running"), ("poststop", "stopped")):
        state = records[stage]["state"]
        assert state["ociVersion"] == "1.0.2" and state["id"] == cid and state["status"] == status
        assert state["bundle"] == f"{runtime_store.root}/containers/{cid}/bundle"
    pid = records["createRuntime"]["state"]["pid"]
    assert records["createContainer"]["state"]["pid"] == start_state["pid"] == pid
    # createRuntime: in the runtime's mount namespace, with the container's already made.
    assert records["createRuntime"]["self_mnt"] == host_mnt
    assert records["createRuntime"]["pid_mnt"] not in ("", host_mnt)
    assert records["createRuntime"]["var"] == "runtime"
    # createContainer: inside the container's mount namespace (still before the pivot).
    assert records["createContainer"]["self_mnt"] == records["createRuntime"]["pid_mnt"]
    assert records["createContainer"]["var"] == "container"
    assert records["poststart"]["self_mnt"] == records["poststop"]["self_mnt"] == host_mnt
    assert "pid" not in records["poststop"]["state"]
    assert _container_ids(runtime_store) == []


@pytest.mark.parametrize(("gpus", "present", "absent"),
                         [("1", "/dev/fakegpu0", "/dev/fakegpu1"),
                          ("device=1", "/dev/fakegpu1", "/dev/fakegpu0"),
                          ('"device=0,1"', "/dev/fakegpu1", "/dev/nothing")])
def test_gpus_select_devices(runtime_store: Store, cli, gpu_env: dict[str, str], gpus: str,
                             present: str, absent: str) -> None:
    result = cli("run", "--rm", "--gpus", gpus, "busybox", "sh", "-c",
                 f"test -c {present} && echo present; test -e {absent} || echo absent",
                 env=gpu_env)
    assert (result.returncode, result.stdout) == (0, "present\nabsent\n"), result.stderr


def test_unknown_gpu_fails_before_anything_runs(runtime_store: Store, cli,
                                                gpu_env: dict[str, str]) -> None:
    result = cli("run", "--rm", "--gpus", "device=7", "busybox", "true", env=gpu_env)
    assert result.returncode == 125
    assert "unresolvable CDI devices nvidia.com/gpu=7" in result.stderr
    assert _hook_records(gpu_env) == [] and _container_ids(runtime_store) == []


def test_gpus_without_a_spec_fails_like_docker(runtime_store: Store, cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("run", "--rm", "--gpus", "all", "busybox", "true",
                 env={"FREIGHT_CDI_SPEC_DIRS": str(tmp_path / "empty")})
    assert result.returncode == 125
    assert result.stderr.strip().endswith('could not select device driver "" with capabilities: [[gpu]]')
    assert len(result.stderr.strip().splitlines()) == 1
    assert _container_ids(runtime_store) == []
    # As with docker: create accepts it (an empty FREIGHT_CDI_SPEC_DIRS: no CDI at all),
    # the start fails and exits 1.
    cid = cli("create", "--gpus", "all", "busybox", "true", check=True).stdout.strip()
    start = cli("start", cid, env={"FREIGHT_CDI_SPEC_DIRS": ""})
    assert start.returncode == 1
    assert 'could not select device driver "" with capabilities: [[gpu]]' in start.stderr


@pytest.mark.parametrize(("stage", "timeout", "command", "expected"), [
    ("createRuntime", None, "cat > {state}; echo runtime-boom >&2; exit 3",
     "exit status 3, output: runtime-boom"),
    ("createContainer", None, "cat > {state}; echo container-boom; exit 4",
     "exit status 4, output: container-boom"),
    ("createContainer", 1, "cat > {state}; exec sleep 30", "timed out after 1s"),
    ("startContainer", None, "exit 5", "exit status 5"),  # in the container: no state kept
])
def test_failing_hook_fails_the_start(runtime_store: Store, cli, tmp_path: Path, stage: str,
                                      timeout: int | None, command: str, expected: str) -> None:
    host_file = tmp_path / "f"
    host_file.write_text("x")
    state_file = tmp_path / "state.json"
    command = command.format(state=state_file)
    _write_spec(tmp_path / "cdi", [_hook(stage, "/bin/sh", ["sh", "-c", command], timeout=timeout)],
                host_file)
    result = cli("run", "--rm", "--gpus", "all", "busybox", "echo", "should-not-run",
                 env={"FREIGHT_CDI_SPEC_DIRS": str(tmp_path / "cdi")}, timeout=60)
    assert result.returncode == 125
    assert result.stdout == ""
    assert f"error running {stage} hook #0: /bin/sh: {expected}" in result.stderr
    assert _container_ids(runtime_store) == []
    if state_file.exists():  # the failed start left no cgroup, mount or container files
        cid = json.loads(state_file.read_text())["id"]
        assert freight_cgroups([cid]) == [] and freight_mounts(runtime_store.root) == []
        assert not (runtime_store.root / "containers" / cid).exists()
    else:
        assert stage == "startContainer"


def test_failing_poststart_hook_is_only_a_warning(runtime_store: Store, cli, tmp_path: Path) -> None:
    host_file = tmp_path / "f"
    host_file.write_text("x")
    _write_spec(tmp_path / "cdi", [_hook("poststart", "/bin/sh", ["sh", "-c", "exit 9"]),
                                   _hook("poststop", "/nonexistent/hook", ["hook"])], host_file)
    result = cli("run", "--rm", "--gpus", "all", "busybox", "echo", "ran",
                 env={"FREIGHT_CDI_SPEC_DIRS": str(tmp_path / "cdi")})
    assert (result.returncode, result.stdout) == (0, "ran\n")
    assert "WARNING: error running poststart hook #0: /bin/sh: exit status 9" in result.stderr
    assert "WARNING: error running poststop hook #0: /nonexistent/hook:" in result.stderr
