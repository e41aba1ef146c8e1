"""``--runtime``: containers run by crun, runc and runsc (gVisor) through their CLI, from
the bundle freight writes, and the built-in runtime's beside them in one store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_stdio import run_in_pty
from testlib import CLI, HUGETLB, free_port, freight_env, http_get, require_tool, wait_until

from freight.store import Store

CRUN_AND_RUNC = ["crun", "runc"]


@pytest.fixture
def oci(oci_runtimes: None, runtime_store: Store) -> Store:
    """The busybox store, with the external runtimes' host set-up done."""
    for name in ("crun", "runc", "runsc"):
        require_tool(name, name)
    return runtime_store


def _running(cli: CLI, name: str) -> bool:
    return cli("inspect", "-f", "{{.State.Running}}", name).stdout == "true\n"


def test_an_unknown_runtime_fails_with_dockers_message(runtime_store: Store, cli: CLI) -> None:
    for command in ("run", "create"):
        result = cli(command, "--runtime", "nosuch", "busybox", "true")
        assert result.returncode == 125
        assert result.stderr == "Error: unknown or invalid runtime name: nosuch\n"
    assert cli("ps", "-aq").stdout == ""


def test_a_configured_runtime_that_is_not_installed_is_named(runtime_store: Store, cli: CLI) -> None:
    Path(os.environ["FREIGHT_CONFIG"]).write_text(json.dumps(
        {"runtimes": {"ghost": {"path": "/nonexistent/ghost-runtime", "runtimeArgs": ["--debug"]}}}))
    result = cli("run", "--rm", "--runtime", "ghost", "busybox", "true")
    assert result.returncode == 125
    assert result.stderr == 'Error: runtime "ghost": /nonexistent/ghost-runtime is not installed (no such executable)\n'
    assert cli("ps", "-aq").stdout == ""


def test_the_default_runtime_is_configurable(oci: Store, cli: CLI) -> None:
    Path(os.environ["FREIGHT_CONFIG"]).write_text(json.dumps({"default-runtime": "crun"}))
    assert cli("create", "--name", "dflt", "busybox", "true").returncode == 0
    assert cli("inspect", "-f", "{{.HostConfig.Runtime}}", "dflt").stdout == "crun\n"
    Path(os.environ["FREIGHT_CONFIG"]).write_text("{}")
    assert cli("create", "--name", "builtin", "busybox", "true").returncode == 0
    assert cli("inspect", "-f", "{{.HostConfig.Runtime}}", "builtin").stdout == "freight\n"
    assert cli("rm", "dflt", "builtin").returncode == 0


def test_crun_on_hybrid_cgroups_without_hugetlb_says_what_to_do(runtime_store: Store, tmp_path: Path) -> None:
    """Run where the hugetlb v1 mount is certainly missing (a namespace of its own)."""
    require_tool("crun", "crun")
    if not (os.path.isdir("/sys/fs/cgroup/unified") and os.path.isdir("/sys/fs/cgroup/memory")):
        pytest.skip("a hybrid cgroup host only")  # CI's machines are hybrid, as this one
    from testlib import FREIGHT

    script = f'umount {HUGETLB} 2>/dev/null; exec "$@"'
    result = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(FREIGHT), "run", "--rm", "--runtime",
                             "crun", "busybox", "true"], capture_output=True, text=True, timeout=60,
                            env=freight_env(runtime_store.root))
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1
    assert "hugetlb" in result.stderr and f"mount -t cgroup -o hugetlb cgroup {HUGETLB}" in result.stderr


@pytest.mark.parametrize("runtime", CRUN_AND_RUNC + ["runsc"])
def test_run_and_exit_codes(oci: Store, cli: CLI, runtime: str) -> None:
    result = cli("run", "--rm", "--runtime", runtime, "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    missing = cli("run", "--rm", "--runtime", runtime, "busybox", "nosuchcommand")
    assert missing.returncode == 127, missing.stderr
    assert "nosuchcommand" in missing.stderr and missing.stderr.count("\n") == 1


@pytest.mark.parametrize("runtime", CRUN_AND_RUNC + ["runsc"])
def test_detached_logs_and_exec(oci: Store, cli: CLI, runtime: str) -> None:
    assert cli("run", "-d", "--name", "bg", "--runtime", runtime, "busybox", "sh", "-c",
               "echo started; exec sleep 1000").returncode == 0
    wait_until(lambda: cli("logs", "bg").stdout == "started\n")
    executed = cli("exec", "bg", "sh", "-c", "echo in $(hostname); exit 4")
    assert executed.returncode == 4 and executed.stdout.startswith("in "), executed.stderr
    missing = cli("exec", "bg", "nosuchcommand")
    assert missing.returncode == 127, missing.stderr
    assert "nosuchcommand" in missing.stderr and missing.stderr.count("\n") == 1
    for command in ("/etc/passwd", "/etc"):  # not executable; a directory
        refused = cli("exec", "bg", command)
        assert refused.returncode == 126, refused.stderr
        assert command in refused.stderr and refused.stderr.count("\n") == 1
    assert cli("exec", "bg", "sh", "-c", "exit 255").returncode == 255  # the command's own code stays its own
    assert cli("rm", "-f", "bg").returncode == 0


@pytest.mark.parametrize("runtime", CRUN_AND_RUNC)
def test_exec_looks_the_command_up_in_the_containers_root(oci: Store, cli: CLI, runtime: str) -> None:
    """Relative to the exec's working directory, through the container's own absolute symlinks,
    in the exec's PATH: what the built-in runtime finds, crun and runc run."""
    script = ("mkdir -p /opt/tools /opt/real && printf '#!/bin/sh\\necho hello $1\\n' > /opt/real/hello && "
              "chmod +x /opt/real/hello && ln -s /opt/real/hello /opt/tools/hello && exec sleep 1000")
    assert cli("run", "-d", "--name", "bg", "--runtime", runtime, "busybox", "sh", "-c", script).returncode == 0
    wait_until(lambda: cli("exec", "bg", "test", "-L", "/opt/tools/hello").returncode == 0)
    assert cli("exec", "-w", "/opt", "bg", "tools/hello", "relative").stdout == "hello relative\n"
    assert cli("exec", "-e", "PATH=/opt/tools", "bg", "hello", "on-path").stdout == "hello on-path\n"
    missing = cli("exec", "bg", "hello")
    assert missing.returncode == 127 and 'exec: "hello": executable file not found in $PATH' in missing.stderr
    assert cli("rm", "-f", "bg").returncode == 0


@pytest.mark.parametrize("runtime", [*CRUN_AND_RUNC, "runsc"])
def test_exec_with_a_terminal(oci: Store, cli: CLI, runtime: str) -> None:
    assert cli("run", "-d", "--name", "bg", "--runtime", runtime, "busybox", "sleep", "1000").returncode == 0
    code, out = run_in_pty(oci.root, "exec", "-it", "bg", "sh", "-c",
                           "read line; echo got:$line; stty size; [ -t 0 ] && echo is-tty; exit 5", send=b"hello\n")
    assert code == 5, out
    assert b"got:hello" in out and b"33 97" in out and b"is-tty" in out
    code, out = run_in_pty(oci.root, "exec", "-it", "bg", "nosuchcommand")
    assert code == 127 and b'"nosuchcommand"' in out and out.count(b"\n") == 1, out
    assert cli("rm", "-f", "bg").returncode == 0


@pytest.mark.parametrize("runtime", CRUN_AND_RUNC)
def test_tty_interactive(oci: Store, runtime: str) -> None:
    code, out = run_in_pty(oci.root, "run", "-it", "--rm", "--runtime", runtime, "busybox", "sh", "-c",
                           "read line; echo got:$line; stty size; [ -t 0 ] && echo is-tty", send=b"hello\n")
    assert code == 0, out
    assert b"got:hello" in out and b"33 97" in out and b"is-tty" in out


@pytest.mark.parametrize("runtime", CRUN_AND_RUNC)
def test_stop_and_kill_signals(oci: Store, cli: CLI, runtime: str) -> None:
    assert cli("run", "-d", "--name", "trapper", "--runtime", runtime, "busybox", "sh", "-c",
               "trap 'echo got-term; exit 9' TERM; echo ready; while :; do sleep 0.1; done").returncode == 0
    wait_until(lambda: cli("logs", "trapper").stdout == "ready\n")
    assert cli("stop", "trapper").returncode == 0
    assert cli("inspect", "-f", "{{.State.ExitCode}}", "trapper").stdout == "9\n"
    assert "got-term" in cli("logs", "trapper").stdout
    assert cli("run", "-d", "--name", "victim", "--runtime", runtime, "busybox", "sleep", "1000").returncode == 0
    assert cli("kill", "-s", "KILL", "victim").returncode == 0
    wait_until(lambda: not _running(cli, "victim"))
    assert cli("inspect", "-f", "{{.State.ExitCode}}", "victim").stdout == "137\n"
    assert cli("rm", "trapper", "victim").returncode == 0


@pytest.mark.parametrize("runtime", CRUN_AND_RUNC)
def test_limits(oci: Store, cli: CLI, runtime: str) -> None:
    hog = cli("run", "--name", "hog", "--runtime", runtime, "--memory=32m", "busybox", "dd", "if=/dev/zero",
              "of=/dev/null", "bs=100M", "count=1", timeout=60)
    assert hog.returncode == 137, hog.stderr
    assert cli("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog").stdout == "true 137\n"
    assert cli("run", "-d", "--name", "limited", "--runtime", runtime, "--cpus", "0.5", "--pids-limit", "20",
               "busybox", "sleep", "1000").returncode == 0
    cid = cli("inspect", "-f", "{{.Id}}", "limited").stdout.strip()
    assert Path(f"/sys/fs/cgroup/cpu/freight/{cid}/cpu.cfs_quota_us").read_text() == "50000\n"
    assert Path(f"/sys/fs/cgroup/pids/freight/{cid}/pids.max").read_text() == "20\n"
    forks = cli("exec", "limited", "sh", "-c", "for i in $(seq 40); do sleep 5 & done 2>/dev/null; echo done")
    assert "can't fork" in forks.stderr or "Resource temporarily unavailable" in forks.stderr or forks.returncode
    assert cli("rm", "-f", "hog", "limited").returncode == 0


@pytest.mark.parametrize("runtime", CRUN_AND_RUNC)
def test_mounts_identity_and_privileges(oci: Store, cli: CLI, tmp_path: Path, runtime: str) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return cli("run", "--rm", "--runtime", runtime, *args)

    assert run("-v", f"{tmp_path}:/host", "busybox", "sh", "-c", "echo written > /host/file").returncode == 0
    assert (tmp_path / "file").read_text() == "written\n"
    readonly = run("--read-only", "busybox", "touch", "/newfile")
    assert readonly.returncode == 1 and "Read-only file system" in readonly.stderr
    nobody = "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"
    assert run("--user", "nobody", "busybox", "id").stdout == nobody
    dropped = run("--cap-drop", "ALL", "busybox", "grep", "CapEff", "/proc/self/status").stdout
    assert dropped.split() == ["CapEff:", "0000000000000000"]
    privileged = run("--privileged", "busybox", "sh", "-c", "grep CapEff /proc/self/status; ls /dev | wc -l")
    effective, devices = privileged.stdout.split("\n")[:2]
    assert int(effective.split()[1], 16) > int("a80425fb", 16) and int(devices) > 20, privileged.stderr


SERVE = "echo served by $(hostname) > /tmp/index.html; exec httpd -f -p 80 -h /tmp"


@pytest.mark.parametrize("runtime", [*CRUN_AND_RUNC, "runsc"])
def test_published_port(oci: Store, cli: CLI, tmp_path: Path, runtime: str) -> None:
    port = free_port()
    assert cli("run", "-d", "--name", "web", "--hostname", "web", "--runtime", runtime, "-p", f"127.0.0.1:{port}:80",
               "busybox", "sh", "-c", SERVE).returncode == 0
    assert wait_until(lambda: _fetch(port)) == "served by web\n"
    assert cli("rm", "-f", "web").returncode == 0


def test_runsc_containers_are_on_the_bridge_network(oci: Store, cli: CLI) -> None:
    """gVisor's network stack takes the address freight gave the container's namespace: other
    containers (of any runtime) reach it there, and it reaches them."""
    for name, runtime in (("sandboxed", "runsc"), ("plain", "freight")):
        assert cli("run", "-d", "--name", name, "--hostname", name, "--runtime", runtime, "busybox", "sh", "-c",
                   SERVE).returncode == 0
    address = {name: cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).stdout.strip()
               for name in ("sandboxed", "plain")}
    inside = cli("exec", "sandboxed", "ip", "addr").stdout  # gVisor's netlink lists, it does not filter
    assert f"inet {address['sandboxed']}/" in inside
    for client, server in (("freight", "sandboxed"), ("runsc", "plain"), ("runsc", "sandboxed")):
        url = f"http://{address[server]}/"
        fetched = wait_until(lambda client=client, url=url: cli("run", "--rm", "--runtime", client, "busybox",
                                                                "timeout", "5", "wget", "-q", "-O", "-", url).stdout)
        assert fetched == f"served by {server}\n", (client, server)
    assert cli("rm", "-f", "sandboxed", "plain").returncode == 0


def test_runsc_containers_find_others_by_name_on_a_user_defined_network(oci: Store, cli: CLI) -> None:
    """The embedded DNS's redirect inside the namespace misses gVisor's stack: its resolv.conf
    names the network's DNS server itself."""
    assert cli("network", "create", "lab").returncode == 0
    for name, runtime in (("sandboxed", "runsc"), ("plain", "freight")):
        assert cli("run", "-d", "--name", name, "--hostname", name, "--network", "lab", "--runtime", runtime,
                   "busybox", "sh", "-c", SERVE).returncode == 0
    for client, server in (("runsc", "plain"), ("runsc", "sandboxed"), ("freight", "sandboxed")):
        url = f"http://{server}/"
        fetched = wait_until(lambda client=client, url=url: cli("run", "--rm", "--network", "lab", "--runtime", client,
                                                                "busybox", "timeout", "5", "wget", "-q", "-O", "-",
                                                                url).stdout)
        assert fetched == f"served by {server}\n", (client, server)
    assert cli("rm", "-f", "sandboxed", "plain").returncode == 0
    assert cli("network", "rm", "lab").returncode == 0


def test_runsc_refuses_another_containers_network(oci: Store, cli: CLI) -> None:
    assert cli("run", "-d", "--name", "owner", "busybox", "sleep", "1000").returncode == 0
    refused = cli("run", "--rm", "--runtime", "runsc", "--network", "container:owner", "busybox", "true")
    assert refused.returncode == 125
    assert refused.stderr == ("Error: runtime 'runsc' cannot join another container's network (container:owner): "
                              "it has a network stack of its own\n")
    assert cli("rm", "-f", "owner").returncode == 0
    assert cli("ps", "-aq").stdout == ""


def _fetch(port: int) -> str | None:
    try:
        return http_get(port, timeout=1)
    except OSError:
        return None


def test_runtimes_share_one_store(oci: Store, cli: CLI) -> None:
    """ps, inspect, stop and rm treat containers of every runtime alike."""
    names = {"freight": "b1", "crun": "c1", "runc": "r1", "runsc": "s1"}
    for runtime, name in names.items():
        assert cli("run", "-d", "--name", name, "--runtime", runtime, "busybox", "sleep", "1000").returncode == 0
    listed = cli("ps", "--format", "{{.Names}}").stdout.split()
    assert sorted(listed) == sorted(names.values())
    for runtime, name in names.items():
        shown = json.loads(cli("inspect", name).stdout)[0]
        assert shown["HostConfig"]["Runtime"] == runtime and shown["State"]["Running"]
        assert Path(shown["OCIConfigPath"]).is_file()
    started = time.monotonic()
    assert cli("stop", "-t", "1", *names.values()).returncode == 0
    assert time.monotonic() - started < 30
    assert cli("ps", "-q").stdout == ""
    assert cli("rm", *names.values()).returncode == 0
    assert cli("ps", "-aq").stdout == ""


@pytest.mark.parametrize("runtime", ["crun", "runsc"])
def test_a_dead_monitor_is_cleaned_up_after(oci: Store, cli: CLI, runtime: str) -> None:
    """Reaping a container whose monitor is gone (what the next command that notices does)
    deletes the runtime's container, unmounts its root and records the exit."""
    from freight.runtime import containers, removal

    assert cli("run", "-d", "--name", "orphan", "--runtime", runtime, "busybox", "sleep", "1000").returncode == 0
    c = containers.get(oci, "orphan")
    state = dict(c.state)
    os.kill(state["MonitorPid"], signal.SIGKILL)
    assert removal.reap(oci, c) is not None
    assert cli("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout.startswith("orphan Exited (137)")
    cid = cli("inspect", "-f", "{{.Id}}", "orphan").stdout.strip()
    assert not os.path.ismount(f"{oci.root}/containers/{cid}/merged")
    assert wait_until(lambda: not os.path.exists(f"/proc/{state['Pid']}"), timeout=15)
    assert cli("rm", "orphan").returncode == 0


def test_build_runs_its_steps_with_the_runtime_asked_for(oci: Store, cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN uname -r > /kernel\n")
    built = cli("build", "--runtime", "runsc", "-q", "-t", "sandboxed", str(tmp_path), timeout=120)
    assert built.returncode == 0, built.stderr
    assert cli("run", "--rm", "sandboxed", "cat", "/kernel").stdout == "4.4.0\n"  # gVisor's kernel, not ours
    refused = cli("build", "--runtime", "nosuch", "--no-cache", "-q", str(tmp_path))
    assert refused.returncode == 1 and "unknown or invalid runtime name: nosuch" in refused.stderr
