"""restart, attach, top, port, stats, container prune and the ``container`` group, on real containers."""

from __future__ import annotations

import subprocess
import time

from testlib import FREIGHT, du_bytes

from freight.cli.format import human_size
from freight.runtime import containers
from freight.store import Store


def _started_at(store: Store, ref: str) -> str:
    return containers.get(store, ref).state["StartedAt"]


def test_restart_changes_started_at_and_keeps_running(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "again", "busybox", "sleep", "60", check=True)
    first = containers.get(runtime_store, "again")
    result = cli("restart", "-t", "0", "again", check=True)
    assert result.stdout == "again\n"
    second = containers.get(runtime_store, "again")
    assert second.running and second.pid != first.pid
    assert second.state["StartedAt"] > first.state["StartedAt"]
    missing = cli("restart", "nope")
    assert missing.returncode == 1 and "No such container: nope" in missing.stderr


def test_attach_relays_live_output_and_returns_exit_code(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "talker", "busybox", "sh", "-c",
        "echo before; sleep 1.5; echo out1; echo err1 >&2; sleep 0.3; echo out2; exit 7", check=True)
    time.sleep(0.5)  # "before" is already logged: attach shows only what comes after
    result = cli("attach", "talker", timeout=30)
    assert result.returncode == 7
    assert result.stdout == "out1\nout2\n" and result.stderr == "err1\n"
    stopped = cli("attach", "talker")
    assert stopped.returncode == 1 and "cannot attach to a stopped container" in stopped.stderr


def test_attach_forwards_stdin_to_an_interactive_container(runtime_store: Store, cli) -> None:
    cli("run", "-d", "-i", "--name", "reader", "busybox", "sh", "-c",
        'while read l; do echo "got:$l"; [ "$l" = quit ] && exit 3; done', check=True)
    result = cli("attach", "reader", input="hello\nquit\n", timeout=30)
    assert (result.returncode, result.stdout) == (3, "got:hello\ngot:quit\n")


def test_top_lists_the_container_processes(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "sleeper", "busybox", "sh", "-c", "sleep 61 & sleep 62", check=True)
    time.sleep(0.3)
    lines = cli("top", "sleeper", check=True).stdout.splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    commands = [line.split(None, 7)[7] for line in lines[1:]]
    assert "sleep 61" in commands and "sleep 62" in commands
    assert not any("pytest" in c for c in commands)  # only the container's processes
    custom = cli("top", "sleeper", "-o", "pid,comm", check=True).stdout.splitlines()
    assert custom[0].split() == ["PID", "COMMAND"] and len(custom) == len(lines)


def test_port_shows_the_published_mapping(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "web", "-p", "127.0.0.1::80", "-p", "127.0.0.1::53/udp",
        "busybox", "sleep", "60", check=True)
    ports = containers.get(runtime_store, "web").record["NetworkSettings"]["Ports"]
    tcp, udp = ports["80/tcp"][0]["HostPort"], ports["53/udp"][0]["HostPort"]
    assert sorted(cli("port", "web", check=True).stdout.splitlines()) == sorted(
        [f"80/tcp -> 127.0.0.1:{tcp}", f"53/udp -> 127.0.0.1:{udp}"])
    assert cli("port", "web", "53/udp", check=True).stdout == f"53/udp -> 127.0.0.1:{udp}\n"
    missing = cli("port", "web", "81")
    assert missing.returncode == 1 and "No public port '81/tcp' published for web" in missing.stderr


def test_stats_shows_the_memory_limit_and_pids(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "limited", "--memory", "48m", "busybox", "sh", "-c", "sleep 60 & sleep 61 & wait",
        check=True)
    time.sleep(0.3)
    lines = cli("stats", "--no-stream", "limited", check=True).stdout.splitlines()
    assert lines[0].split("  ")[0] == "CONTAINER ID" and "MEM USAGE / LIMIT" in lines[0]
    row = lines[1].split()
    cid = containers.get(runtime_store, "limited").id
    assert row[0] == cid[:12] and row[1] == "limited"
    assert row[5] == "48MiB" and row[-1] == "3"  # sh and its two sleeps
    fmt = cli("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", check=True).stdout
    assert fmt == "limited 3\n"


def test_container_prune_removes_stopped_but_not_running(runtime_store: Store, cli) -> None:
    running = cli("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    stopped = cli("run", "busybox", "sh", "-c", "head -c 5000 /dev/zero > /big", check=True)
    assert stopped.returncode == 0
    done = [c.id for c in containers.list_containers(runtime_store, all=True) if not c.running]
    recent = cli("container", "prune", "-f", "--filter", "until=1h", check=True)  # none is an hour old
    assert recent.stdout == "Total reclaimed space: 0B\n"
    freed = du_bytes(runtime_store.root / "containers" / done[0])  # its upper dir, log, hosts files
    result = cli("container", "prune", "-f", check=True)
    assert result.stdout.splitlines()[:2] == ["Deleted Containers:", done[0]]
    assert result.stdout.splitlines()[-1] == f"Total reclaimed space: {human_size(freed)}" and freed > 5000
    assert [c.id for c in containers.list_containers(runtime_store, all=True)] == [running]
    assert cli("container", "prune", input="n\n").stdout.endswith("[y/N] ")


def test_container_group_reuses_the_container_commands(runtime_store: Store, cli) -> None:
    assert cli("container", "run", "--rm", "busybox", "echo", "hi", check=True).stdout == "hi\n"
    cid = cli("container", "create", "--name", "made", "busybox", "true", check=True).stdout.strip()
    assert cli("container", "ls", "-a", "-q", check=True).stdout == cid[:12] + "\n"
    assert cli("container", "list", "-aq", check=True).stdout == cid[:12] + "\n"
    assert cli("container", "inspect", "-f", "{{.Name}}", "made", check=True).stdout == "/made\n"
    assert cli("container", "rm", "made", check=True).stdout == "made\n"


def test_attach_follows_a_container_started_later_in_the_background(runtime_store: Store, cli) -> None:
    """attach runs beside the container: a second attach gets the same output."""
    cli("run", "-d", "--name", "twice", "busybox", "sh", "-c", "sleep 1; echo shared", check=True)
    env = {"FREIGHT_ROOT": str(runtime_store.root), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([str(FREIGHT), "attach", "--no-stdin", "twice"], stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=30)[0] for p in procs]
    assert outputs == [b"shared\n", b"shared\n"]
    assert [p.returncode for p in procs] == [0, 0]


def test_attach_types_into_a_terminal_container_and_detaches(runtime_store: Store, cli) -> None:
    cli("run", "-dit", "--name", "term", "busybox", "sh", check=True)
    result = cli("attach", "term", input="echo typed-$((6*7))\nexit 4\n", timeout=30)
    assert result.returncode == 4 and "typed-42\n" in result.stdout  # (text mode: \r\n read as \n)
    assert "echo typed-$((6*7))" in result.stdout  # the terminal echoed what was typed
    cli("run", "-dit", "--name", "stays", "busybox", "sh", check=True)
    detached = cli("attach", "stays", input="\x10\x11", timeout=30)
    assert detached.returncode == 0 and containers.get(runtime_store, "stays").running
