"""Viewers of a container its monitor runs: ``run`` and ``start -a`` in the foreground and
``attach`` leave it running when they go (a closed pipe, the detach keys), and proxy
signals to it."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from testlib import Terminal, freight_process, wait_until

from freight.errors import NotFound
from freight.runtime import containers
from freight.runtime.channel import DetachKeys, parse_detach_keys
from freight.store import Store


def _running(store: Store, name: str) -> bool:
    return containers.get(store, name).running


def test_ctrl_p_ctrl_q_detaches_from_run_it_and_attach(runtime_store: Store, cli) -> None:
    term = Terminal(runtime_store.root, "run", "-it", "--name", "shell", "busybox", "sh")
    term.read_until(b"# ")
    term.type(b"echo typed-$((6*7))\r")
    term.read_until(b"typed-42")
    term.type(b"\x10")  # the keys typed one at a time, as a person does
    time.sleep(0.2)
    term.type(b"\x11")
    assert term.close() == 0
    assert _running(runtime_store, "shell")

    again = Terminal(runtime_store.root, "attach", "--detach-keys", "ctrl-x,x", "shell")
    time.sleep(0.5)
    again.type(b"echo again-$((6*7))\r")
    again.read_until(b"again-42")
    again.type(b"\x18x")
    assert again.close() == 0
    assert _running(runtime_store, "shell")

    last = Terminal(runtime_store.root, "attach", "shell")
    time.sleep(0.5)
    last.type(b"exit 5\r")
    assert last.close() == 5
    assert containers.get(runtime_store, "shell").state["ExitCode"] == 5
    cli("rm", "shell", check=True)


def test_start_ai_detaches_with_its_detach_keys(runtime_store: Store, cli) -> None:
    cli("create", "-it", "--name", "later", "busybox", "sh", check=True)
    term = Terminal(runtime_store.root, "start", "-ai", "--detach-keys", "ctrl-a", "later")
    term.read_until(b"# ")
    term.type(b"\x01")
    assert term.close() == 0
    assert _running(runtime_store, "later")
    cli("rm", "-f", "later", check=True)


def test_start_a_returns_as_soon_as_its_pipe_closes(runtime_store: Store, cli) -> None:
    """``start -a NAME | head -1``: the reader's end closes, the viewer leaves within a second,
    though the container prints nothing more; the container runs on."""
    cli("create", "--name", "talker", "busybox", "sh", "-c", "echo first; echo second; sleep 60", check=True)
    viewer = freight_process(runtime_store.root, "start", "-a", "talker", stdout=subprocess.PIPE)
    assert viewer.stdout.readline() == b"first\n"
    viewer.stdout.close()
    closed = time.monotonic()
    assert viewer.wait(timeout=30) == 141  # as a writer killed by SIGPIPE
    assert time.monotonic() - closed < 1.0
    assert _running(runtime_store, "talker")
    cli("rm", "-f", "talker", check=True)


def test_sigterm_to_start_a_reaches_the_container(runtime_store: Store, cli) -> None:
    cli("create", "--name", "trapper", "busybox", "sh", "-c",
        "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.1; done", check=True)
    viewer = freight_process(runtime_store.root, "start", "-a", "trapper", stdout=subprocess.PIPE)
    assert viewer.stdout.readline() == b"ready\n"
    viewer.send_signal(signal.SIGTERM)
    out, _ = viewer.communicate(timeout=30)
    assert viewer.returncode == 3 and out == b"got-term\n"
    cli("rm", "trapper", check=True)


def test_input_ends_for_run_i_and_attach_feeds_a_running_one(runtime_store: Store, cli) -> None:
    done = cli("run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo eof-seen", input="piped\n")
    assert done.returncode == 0 and done.stdout == "piped\neof-seen\n"
    cid = cli("run", "-di", "--name", "reader", "busybox", "sh", "-c", "read line; echo got:$line",
              check=True).stdout.strip()
    fed = cli("attach", "reader", input="hello\n")
    assert fed.returncode == 0 and fed.stdout == "got:hello\n"
    assert containers.get(runtime_store, cid).state["ExitCode"] == 0
    cli("rm", "reader", check=True)


def test_bad_detach_keys_are_refused_before_anything_runs(runtime_store: Store, cli) -> None:
    result = cli("run", "--detach-keys", "ctrl-1", "busybox", "true")
    assert result.returncode == 125
    assert "Invalid detach keys (ctrl-1) provided" in result.stderr
    assert cli("ps", "-a", "-q", check=True).stdout == ""


def test_detach_keys_parse_as_docker_and_match_across_reads() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-@,ctrl-\\") == b"a\x00\x1c"
    with pytest.raises(ValueError, match="Unknown character"):
        parse_detach_keys("ctrl-pp")
    keys = DetachKeys(b"\x10\x11")
    assert keys.feed(b"ab\x10") == (b"ab", False)  # held back: maybe the start of the keys
    assert keys.feed(b"c") == (b"\x10c", False)  # it was not: sent on
    assert keys.feed(b"\x10") == (b"", False)
    assert keys.feed(b"\x11rest") == (b"", True)


def test_a_viewer_that_does_not_read_holds_up_neither_the_container_nor_its_log(runtime_store: Store, cli) -> None:
    viewer = freight_process(runtime_store.root, "run", "--name", "chatty", "busybox", "sh", "-c",
                             "head -c 20000000 /dev/zero | tr '\\0' x; echo; echo done", stdout=subprocess.PIPE)
    # never read: its pipe fills, then its socket, then the backlog the monitor keeps for it
    assert wait_until(lambda: _status(runtime_store, "chatty") == "exited", timeout=60)
    assert containers.get(runtime_store, "chatty").state["ExitCode"] == 0
    assert cli("logs", "--tail", "1", "chatty", check=True).stdout == "done\n"
    viewer.kill()
    viewer.wait()
    cli("rm", "chatty", check=True)


def test_logs_f_of_an_rm_container_ends_with_it(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--rm", "--name", "brief", "busybox", "sh", "-c", "echo a; sleep 1; echo b", check=True)
    followed = cli("logs", "-f", "brief")
    assert followed.returncode == 0 and followed.stdout == "a\nb\n"


def _status(store: Store, name: str) -> str | None:
    try:
        return str(containers.get(store, name).state["Status"])
    except NotFound:
        return None


def test_exec_it_detaches_and_its_command_runs_on(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "host", "busybox", "sleep", "60", check=True)
    term = Terminal(runtime_store.root, "exec", "-it", "host", "sh")
    term.read_until(b"# ")
    term.type(b"echo $((6*7)) > /tmp/answer; exec sleep 77\r")
    time.sleep(0.5)
    term.type(b"\x10\x11")
    assert term.close() == 0
    assert wait_until(lambda: "sleep 77" in cli("exec", "host", "ps", check=True).stdout)
    assert cli("exec", "host", "cat", "/tmp/answer", check=True).stdout == "42\n"
    assert cli("exec", "host", "sh", "-c", "exit 7").returncode == 7
    missing = cli("exec", "host", "no-such-command")
    assert missing.returncode == 127
    cli("rm", "-f", "host", check=True)


def test_start_a_of_a_running_container_attaches(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "busy", "busybox", "sh", "-c", "sleep 2; echo late; exit 4", check=True)
    viewer = cli("start", "-a", "busy")
    assert (viewer.returncode, viewer.stdout) == (4, "late\n")
    cli("rm", "busy", check=True)


def test_ctrl_c_in_run_it_reaches_the_container_through_its_terminal(runtime_store: Store) -> None:
    term = Terminal(runtime_store.root, "run", "-it", "--rm", "busybox", "sh", "-c",
                    "trap 'echo got-int; exit 3' INT; echo ready; while :; do sleep 0.1; done")
    term.read_until(b"ready")
    term.type(b"\x03")
    term.read_until(b"got-int")
    assert term.close() == 3
