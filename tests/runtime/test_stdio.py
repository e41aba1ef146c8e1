"""Terminals, stdin, signals and the json-file log of foreground containers."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

from testlib import freight_process

from freight.runtime.stdio import JsonLog
from freight.runtime.times import timestamp
from freight.store import Store


def run_in_pty(root: Path, *args: str, send: bytes = b"", timeout: float = 30) -> tuple[int, bytes]:
    """Run ``freight ARGS`` with a real terminal as its stdin/stdout/stderr."""
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 97, 0, 0))
    proc = freight_process(root, *args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    if send:
        time.sleep(0.5)
        os.write(master, send)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=timeout), out


def test_tty_is_a_terminal_in_the_container(runtime_store: Store) -> None:
    code, out = run_in_pty(runtime_store.root, "run", "-t", "--rm", "busybox", "sh", "-c",
                           "tty; test -t 0 && test -t 1 && echo both-tty; stty size; echo $TERM; exit 4")
    text = out.decode()
    assert code == 4
    assert "/dev/pts/0" in text and "both-tty" in text
    assert "33 97" in text
    assert "xterm" in text


def test_interactive_tty_reads_typed_input_and_ctrl_d(runtime_store: Store) -> None:
    code, out = run_in_pty(runtime_store.root, "run", "-it", "--rm", "busybox", "sh", "-c",
                           "read line; echo got:$line; cat; echo after-eof",
                           send=b"hello\rmore\r\x04")
    text = out.decode()
    assert code == 0
    assert "got:hello" in text and "after-eof" in text


def test_without_tty_nothing_is_a_terminal(runtime_store: Store) -> None:
    code, out = run_in_pty(runtime_store.root, "run", "--rm", "busybox", "sh", "-c",
                           "test -t 1 || echo not-a-tty")
    assert code == 0 and b"not-a-tty" in out


def test_signals_are_proxied_to_the_container(runtime_store: Store) -> None:
    proc = freight_process(runtime_store.root, "run", "--rm", "busybox", "sh", "-c",
                           "trap 'echo got-term; exit 9' TERM; echo ready; while :; do sleep 0.1; done",
                           stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 9
    assert "got-term" in out


def test_no_sig_proxy_leaves_the_container_alone(runtime_store: Store, cli) -> None:
    proc = freight_process(runtime_store.root, "run", "--rm", "--sig-proxy=false", "busybox", "sh", "-c",
                           "trap 'echo got-usr1' USR1; echo ready; sleep 1; echo done",
                           stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGUSR1)  # kills freight run itself (default action)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGUSR1


def test_json_log_lines_are_dockers_format(tmp_path: Path) -> None:
    log = JsonLog(str(tmp_path / "c-json.log"))
    log.write("stdout", b"one\ntw")
    log.write("stderr", b"<err>&\n")
    log.write("stdout", b"o\nlast")
    log.close()
    records = [json.loads(line) for line in (tmp_path / "c-json.log").read_text().splitlines()]
    assert [(r["stream"], r["log"]) for r in records] == [
        ("stdout", "one\n"), ("stderr", "<err>&\n"), ("stdout", "two\n"), ("stdout", "last")]
    raw = (tmp_path / "c-json.log").read_text()
    assert "\\u003cerr\\u003e\\u0026" in raw
    assert all(r["time"].endswith("Z") and "T" in r["time"] for r in records)


def test_timestamp_trims_trailing_zeros_like_go() -> None:
    assert timestamp(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert timestamp(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


def test_detached_tty_output_is_logged_as_stdout(runtime_store: Store, cli) -> None:
    cid = cli("run", "-dt", "busybox", "sh", "-c", "tty; echo to-stderr >&2", check=True).stdout.strip()
    assert cli("wait", cid).stdout.strip() == "0"
    log = runtime_store.root / "containers" / cid / f"{cid}-json.log"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert {r["stream"] for r in records} == {"stdout"}
    assert [r["log"] for r in records] == ["/dev/pts/0\r\n", "to-stderr\r\n"]


def test_interrupt_without_sig_proxy_leaves_the_container_running(runtime_store: Store, cli) -> None:
    """As Docker: Ctrl-C ends the client only; the container belongs to its monitor."""
    proc = freight_process(runtime_store.root, "run", "--name", "intr", "--sig-proxy=false", "busybox", "sh", "-c",
                           "echo ready; sleep 30", stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    from freight.runtime import containers

    assert containers.get(runtime_store, "intr").state["Status"] == "running"
    cli("rm", "-f", "intr", check=True)


def test_window_size_follows_sigwinch(runtime_store: Store) -> None:
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 10, 20, 0, 0))
    proc = freight_process(runtime_store.root, "run", "-t", "--rm", "busybox", "sh", "-c",
                           "stty size; sleep 1.5; stty size",
                           stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    while b"10 20" not in out:
        out += os.read(master, 1024)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 132, 0, 0))
    proc.send_signal(signal.SIGWINCH)
    deadline = time.monotonic() + 20
    while b"50 132" not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                out += os.read(master, 1024)
            except OSError:
                break
    os.close(master)
    assert proc.wait(timeout=20) == 0
    assert b"50 132" in out
