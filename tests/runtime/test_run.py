"""``freight run`` end to end: namespaces, filesystem, identity, environment, exit codes."""

from __future__ import annotations

import re

import pytest

from freight.store import Store

CAP_DEFAULT = "00000000a80425fb"


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_pid_namespace_command_is_pid_1(runtime_store: Store, cli) -> None:
    result = cli("run", "--rm", "busybox", "ps", "-o", "pid,comm", check=True)
    rows = [line.split() for line in lines(result.stdout)[1:]]
    assert rows == [["1", "ps"]]


def test_init_runs_command_under_a_reaper(runtime_store: Store, cli) -> None:
    result = cli("run", "--rm", "--init", "busybox", "sh", "-c", "echo $$; exit 7")
    assert result.returncode == 7
    assert result.stdout.strip() != "1"


def test_root_is_overlay_and_proc_sys_dev_are_mounted(runtime_store: Store, cli) -> None:
    result = cli("run", "--rm", "busybox", "cat", "/proc/self/mountinfo", check=True)
    mounts = {line.split()[4]: line for line in lines(result.stdout)}
    assert " - overlay " in mounts["/"]
    assert " - proc " in mounts["/proc"]
    assert " ro," in mounts["/sys"] or mounts["/sys"].split()[5].startswith("ro")
    assert " - devpts " in mounts["/dev/pts"]
    assert " - tmpfs " in mounts["/dev/shm"]
    assert " - mqueue " in mounts["/dev/mqueue"]
    for name in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"):
        assert name in mounts
    assert mounts["/proc/sys"].split()[5].startswith("ro")
    assert "/proc/interrupts" in mounts  # masked with /dev/null
    assert cli("run", "--rm", "busybox", "cat", "/proc/interrupts", check=True).stdout == ""


def test_dev_has_dockers_devices_only(runtime_store: Store, cli) -> None:
    result = cli("run", "--rm", "busybox", "ls", "/dev", check=True)
    names = set(result.stdout.split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue",
            "fd", "stdin", "stdout", "stderr"} <= names
    assert "sda" not in names and "vda" not in names and "console" not in names


def test_hostname_is_short_id_or_given(runtime_store: Store, cli) -> None:
    cid = cli("run", "-d", "busybox", "hostname", check=True).stdout.strip()
    assert cli("wait", cid).stdout.strip() == "0"
    log = (runtime_store.root / "containers" / cid / f"{cid}-json.log").read_text()
    assert f'"log":"{cid[:12]}\\n"' in log
    assert cli("run", "--rm", "--hostname", "web", "busybox", "cat", "/etc/hostname").stdout == "web\n"


def test_network_none_has_only_loopback_up(runtime_store: Store, cli) -> None:
    result = cli("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link", check=True)
    links = lines(result.stdout)
    assert len(links) == 1 and "lo:" in links[0] and "UP" in links[0]
    host = cli("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link", check=True)
    assert len(lines(host.stdout)) > 1 or "lo:" not in host.stdout


def test_writes_are_isolated_between_containers(runtime_store: Store, cli) -> None:
    cli("run", "--name", "one", "busybox", "sh", "-c", "echo mine > /etc/secret", check=True)
    other = cli("run", "--rm", "busybox", "cat", "/etc/secret")
    assert other.returncode == 1 and "No such file" in other.stderr
    cid = cli("run", "-d", "--name", "two", "busybox", "sh", "-c", "echo second > /etc/secret").stdout.strip()
    cli("wait", cid)
    upper = runtime_store.root / "containers" / cid / "upper" / "etc" / "secret"
    assert upper.read_text() == "second\n"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["true"], 0, None),
    (["sh", "-c", "exit 3"], 3, None),
    (["/etc"], 126, 'exec: "/etc": is a directory'),
    (["/etc/passwd"], 126, 'exec: "/etc/passwd": permission denied'),
    (["nosuchcmd"], 127, 'exec: "nosuchcmd": executable file not found in $PATH'),
    (["/no/such"], 127, 'exec: "/no/such": stat /no/such: no such file or directory'),
])
def test_exit_codes(runtime_store: Store, cli, args: list[str], code: int, message: str | None) -> None:
    result = cli("run", "--rm", "busybox", *args)
    assert result.returncode == code
    if message:
        assert message in result.stderr
        assert len(lines(result.stderr)) == 1


def test_freight_failure_is_125_without_traceback(runtime_store: Store, cli) -> None:
    result = cli("run", "--rm", "--memory=abc", "busybox", "true")
    assert result.returncode == 125
    assert result.stderr.splitlines()[0] == \
        "freight: invalid argument \"abc\" for \"-m, --memory\" flag: invalid size: 'abc'"
    assert "Traceback" not in result.stderr
    assert cli("run", "--rm", "--pull", "never", "nosuchimage", "true").returncode == 125
    assert cli("run", "--rm", "-u", "nobody-here", "busybox", "true").returncode == 125
    assert runtime_store.db.execute("SELECT COUNT(*) FROM containers").fetchone()[0] == 0


def test_signal_exit_code_and_kill(runtime_store: Store, cli) -> None:
    cid = cli("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    assert cli("kill", cid).returncode == 0
    assert cli("wait", cid).stdout.strip() == "137"
    result = cli("run", "--rm", "busybox", "sh", "-c", "sleep 5 & kill -TERM $!; wait $!")
    assert result.returncode == 143


def test_user_and_supplementary_groups(runtime_store: Store, cli) -> None:
    assert cli("run", "--rm", "busybox", "id").stdout.strip() == \
        "uid=0(root) gid=0(root) groups=0(root),10(wheel)"
    assert cli("run", "--rm", "-u", "www-data", "busybox", "id").stdout.strip() == \
        "uid=33(www-data) gid=33(www-data) groups=33(www-data)"
    assert cli("run", "--rm", "-u", "1000:33", "--group-add", "staff", "busybox", "id").stdout.strip() == \
        "uid=1000 gid=33(www-data) groups=33(www-data),50(staff)"
    home = cli("run", "--rm", "-u", "nobody", "busybox", "sh", "-c", "echo $HOME", check=True)
    assert home.stdout.strip() == "/home"


def _caps(cli, *flags: str) -> dict[str, str]:
    result = cli("run", "--rm", *flags, "busybox", "grep", "^Cap", "/proc/self/status", check=True)
    return dict(line.split(":\t") for line in lines(result.stdout))


def test_capabilities_default_drop_add_privileged(runtime_store: Store, cli) -> None:
    caps = _caps(cli)
    assert caps == {"CapInh": "0" * 16, "CapPrm": CAP_DEFAULT, "CapEff": CAP_DEFAULT,
                    "CapBnd": CAP_DEFAULT, "CapAmb": "0" * 16}
    assert set(_caps(cli, "--cap-drop", "ALL").values()) == {"0" * 16}
    added = _caps(cli, "--cap-drop", "ALL", "--cap-add", "net_admin")
    assert added["CapEff"] == added["CapBnd"] == f"{1 << 12:016x}"
    dropped = _caps(cli, "--cap-drop", "CAP_CHOWN")
    assert int(dropped["CapBnd"], 16) == int(CAP_DEFAULT, 16) & ~1
    with open("/proc/self/status") as f:
        ours = dict(line.rstrip("\n").split(":\t") for line in f if line.startswith("CapBnd"))
    assert _caps(cli, "--privileged")["CapEff"] == ours["CapBnd"]
    nonroot = _caps(cli, "-u", "1000")
    assert nonroot["CapEff"] == "0" * 16 and nonroot["CapBnd"] == CAP_DEFAULT


def test_no_new_privileges(runtime_store: Store, cli) -> None:
    on = cli("run", "--rm", "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs",
             "/proc/self/status", check=True)
    assert on.stdout.split() == ["NoNewPrivs:", "1"]
    off = cli("run", "--rm", "busybox", "grep", "NoNewPrivs", "/proc/self/status", check=True)
    assert off.stdout.split() == ["NoNewPrivs:", "0"]


def test_read_only_rootfs(runtime_store: Store, cli) -> None:
    result = cli("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert result.returncode == 1 and "Read-only file system" in result.stderr
    assert cli("run", "--rm", "--read-only", "busybox", "touch", "/dev/shm/x").returncode == 0


def test_environment_env_file_and_workdir(runtime_store: Store, cli, tmp_path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=yes\n\nFROM_CALLER\n")
    result = cli("run", "--rm", "-e", "A=1", "-e", "FROM_CALLER", "--env-file", str(env_file),
                 "-w", "/work/dir", "busybox", "sh", "-c", "pwd; env", check=True,
                 env={"FROM_CALLER": "passed"})
    out = lines(result.stdout)
    assert out[0] == "/work/dir"
    env = dict(line.split("=", 1) for line in out[1:])
    assert env["A"] == "1" and env["FROM_FILE"] == "yes" and env["FROM_CALLER"] == "passed"
    assert env["HOME"] == "/root" and env["PATH"].startswith("/usr/local/sbin")
    assert re.fullmatch(r"[0-9a-f]{12}", env["HOSTNAME"])
    assert "TERM" not in env


def test_ulimit_and_its_ceiling(runtime_store: Store, cli) -> None:
    result = cli("run", "--rm", "--ulimit", "nofile=100:200", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn",
                 check=True)
    assert lines(result.stdout) == ["100", "200"]
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY:
        too_high = cli("run", "--rm", "--ulimit", f"nofile={hard + 1}", "busybox", "true")
        assert too_high.returncode == 125
        assert "cannot be raised" in too_high.stderr


def test_stdin_with_i_and_without(runtime_store: Store, cli) -> None:
    assert cli("run", "-i", "--rm", "busybox", "cat", input="hi\n").stdout == "hi\n"
    assert cli("run", "--rm", "busybox", "cat", input="hi\n").stdout == ""


def test_stdout_and_stderr_are_separate(runtime_store: Store, cli) -> None:
    result = cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert result.stdout == "out\n" and result.stderr == "err\n"


def _host_can_open(path: str) -> bool:
    import os

    try:
        os.close(os.open(path, os.O_RDWR))
        return True
    except OSError:
        return False


def test_device_cgroup_blocks_mknod_and_device_flag_allows(runtime_store: Store, cli) -> None:
    if not _host_can_open("/dev/loop-control"):
        pytest.skip("needs /dev/loop-control openable on the host")
    denied = cli("run", "--rm", "busybox", "sh", "-c", "mknod /dev/lc c 10 237 && exec 3<>/dev/lc")
    assert denied.returncode != 0 and "Operation not permitted" in denied.stderr
    allowed = cli("run", "--rm", "--device", "/dev/loop-control:/dev/lc", "busybox", "sh", "-c",
                  "ls -l /dev/lc && exec 3<>/dev/lc && echo opened")
    assert allowed.returncode == 0, allowed.stderr
    assert "10, 237" in allowed.stdout and "opened" in allowed.stdout
    missing = cli("run", "--rm", "--device", "/dev/no-such-device", "busybox", "true")
    assert missing.returncode == 125
    assert 'error gathering device information while adding custom device "/dev/no-such-device"' in missing.stderr


def test_host_namespaces_on_request(runtime_store: Store, cli) -> None:
    import os

    host_pid = cli("run", "--rm", "--pid", "host", "busybox", "sh", "-c", "ls /proc | grep -c '^[0-9]'", check=True)
    assert int(host_pid.stdout) > 5  # the host's processes are visible
    ipc = cli("run", "--rm", "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc", check=True)
    assert ipc.stdout.strip() == os.readlink("/proc/self/ns/ipc")
    uts = cli("run", "--rm", "--uts", "host", "busybox", "hostname", check=True)
    assert uts.stdout.strip() == os.uname().nodename
    private = cli("run", "--rm", "busybox", "readlink", "/proc/self/ns/ipc", check=True)
    assert private.stdout.strip() != os.readlink("/proc/self/ns/ipc")


def test_cgroup_namespace_and_read_only_cgroupfs(runtime_store: Store, cli) -> None:
    result = cli("run", "--rm", "--memory", "48m", "busybox", "sh", "-c",
                 "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null"
                 " || cat /sys/fs/cgroup/memory.max; touch /sys/fs/cgroup/x 2>&1; true", check=True)
    out = lines(result.stdout)
    cgroup_lines = [line for line in out if line[:1].isdigit() and line.count(":") == 2]
    assert cgroup_lines and all(line.endswith(":/") for line in cgroup_lines)
    assert str(48 * 1024 * 1024) in out
    assert "Read-only file system" in result.stdout
    with open("/proc/self/mountinfo") as f:  # the host's hierarchies stay writable
        host = [line for line in f if " - cgroup " in line or " - cgroup2 " in line]
    assert host and all(line.split(" - ")[1].split()[2].split(",")[0] == "rw" for line in host)
