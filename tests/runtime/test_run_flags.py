"""``run``/``create`` flags: --init (tini as PID 1), --shm-size, --cidfile, --log-driver and
--log-opt, --pull with its progress, --platform, and the image's STOPSIGNAL."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from testlib import CLI

from freight.image.platform import host_platform
from freight.store import Store


def test_init_runs_tini_as_pid_1(busybox_store: Store, cli: CLI, docker_busybox: list[str]) -> None:
    ours = cli("run", "--rm", "--init", "busybox", "ps", "-o", "pid,comm", check=True).stdout.splitlines()
    theirs = subprocess.run([*docker_busybox, "run", "--rm", "--network", "none", "--init", "busybox", "ps", "-o",
                             "pid,comm"], capture_output=True, text=True).stdout.splitlines()
    assert ours[:2] == theirs[:2] == ["PID   COMMAND", "    1 docker-init"]
    cli("run", "-d", "--init", "--name", "waiting", "busybox", "sleep", "100", check=True)
    cli("stop", "-t", "10", "waiting", check=True)  # tini passes SIGTERM on: sleep dies of it at once
    assert cli("inspect", "-f", "{{.State.ExitCode}} {{.HostConfig.Init}}", "waiting").stdout == "143 true\n"


def test_shm_size(busybox_store: Store, cli: CLI) -> None:
    def shm_blocks(*flags: str) -> str:
        out = cli("run", "--rm", *flags, "busybox", "df", "-k", "/dev/shm", check=True).stdout
        return out.splitlines()[1].split()[1]

    assert shm_blocks() == "65536"
    assert shm_blocks("--shm-size", "128m") == "131072"
    cli("create", "--name", "sized", "--shm-size", "1g", "busybox", "true", check=True)
    assert cli("inspect", "-f", "{{.HostConfig.ShmSize}}", "sized").stdout == f"{2**30}\n"


def test_cidfile(busybox_store: Store, cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "cid"
    cid = cli("run", "-d", "--cidfile", str(path), "busybox", "true", check=True).stdout.strip()
    assert path.read_text() == cid
    assert cli("inspect", "-f", "{{.HostConfig.ContainerIDFile}}", cid).stdout == f"{path}\n"
    again = cli("run", "--cidfile", str(path), "busybox", "true")
    assert (again.returncode, again.stderr) == (125, "Error: container ID file found, make sure the other "
                                                     f"container isn't running or delete {path}\n")
    assert cli("ps", "-a", "-q").stdout.split() == [cid[:12]]  # nothing more was created


def test_log_drivers_and_rotation(busybox_store: Store, cli: CLI) -> None:
    lines = "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done"
    cid = cli("run", "--name", "rotated", "--log-opt", "max-size=2k", "--log-opt", "max-file=3", "busybox",
              "sh", "-c", lines, check=True).stdout and cli("inspect", "-f", "{{.Id}}", "rotated").stdout.strip()
    logs = sorted(p.name for p in (busybox_store.root / "containers" / cid).glob("*-json.log*"))
    assert logs == [f"{cid}-json.log", f"{cid}-json.log.1", f"{cid}-json.log.2"]
    assert all((busybox_store.root / "containers" / cid / name).stat().st_size <= 2048 for name in logs)
    shown = cli("logs", "rotated").stdout.splitlines()
    assert shown[-1] == "line 299" and len(shown) < 300  # the oldest lines rotated away
    assert shown == [f"line {n}" for n in range(300 - len(shown), 300)]
    cli("run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi", check=True)
    assert cli("inspect", "-f", "{{.LogPath}}|{{.HostConfig.LogConfig.Type}}", "quiet").stdout == "|none\n"
    unread = cli("logs", "quiet")
    assert (unread.returncode, unread.stderr) == (1, "Error: configured logging driver does not support reading\n")
    cli("run", "--name", "local", "--log-driver", "local", "busybox", "echo", "hi", check=True)
    assert cli("logs", "local").stdout == "hi\n"
    for flags, message in ((["--log-driver", "bogus"], 'error looking up logging plugin bogus: plugin "bogus" '
                                                       "not found"),
                           (["--log-opt", "foo=bar"], "unknown log opt 'foo' for json-file log driver")):
        bad = cli("run", *flags, "busybox", "true")
        assert bad.returncode == 125 and message in bad.stderr


def test_pull_policies_and_platform(busybox_store: Store, cli: CLI, registry: Callable[..., str]) -> None:
    host = registry("freight")
    cli("tag", "busybox", f"{host}/bb:1", check=True)
    cli("push", f"{host}/bb:1", check=True)
    pulled = cli("run", "--rm", "--pull", "always", f"{host}/bb:1", "true", check=True)
    assert "1: Pulling from bb" in pulled.stderr and "Digest: sha256:" in pulled.stderr
    assert cli("run", "--rm", "--pull", "missing", f"{host}/bb:1", "true", check=True).stderr == ""
    cli("rmi", f"{host}/bb:1", check=True)
    never = cli("run", "--rm", "--pull", "never", f"{host}/bb:1", "true")
    assert never.returncode == 125 and "No such image" in never.stderr
    other = cli("run", "--rm", "--pull", "never", "--platform", "linux/s390x", "busybox", "true")
    assert other.returncode == 125
    assert "image with reference busybox was found but does not match the specified platform" in other.stderr
    here = f"linux/{host_platform()['architecture']}"
    assert cli("run", "--rm", "--pull", "never", "--platform", here, "busybox", "true").returncode == 0


def test_stop_signal_and_timeout_come_from_the_image(busybox_store: Store, cli: CLI) -> None:
    cli("create", "--name", "base", "busybox", "true", check=True)
    cli("commit", "-c", "STOPSIGNAL SIGINT", "base", "stops:int", check=True)
    trap = "trap 'exit 7' INT; while true; do sleep 0.1; done"
    cli("run", "-d", "--name", "trapping", "stops:int", "sh", "-c", trap, check=True)
    assert cli("inspect", "-f", "{{.Config.StopSignal}}", "trapping").stdout == "SIGINT\n"
    cli("stop", "trapping", check=True)
    assert cli("inspect", "-f", "{{.State.ExitCode}}", "trapping").stdout == "7\n"
    config = json.loads(cli("inspect", "-f", "{{json .Config}}", "trapping").stdout)
    assert "StopTimeout" not in config
    cli("create", "--name", "patient", "--stop-timeout", "3", "stops:int", "true", check=True)
    assert cli("inspect", "-f", "{{.Config.StopTimeout}}", "patient").stdout == "3\n"


@pytest.mark.parametrize("flag", ["--shm-size=abc", "--log-opt=max-size=abc"])
def test_bad_values_are_usage_errors(busybox_store: Store, cli: CLI, flag: str) -> None:
    bad = cli("run", flag, "busybox", "true")
    assert bad.returncode == 125 and bad.stderr.count("\n") <= 2 and "Traceback" not in bad.stderr
