"""``exec -d``: the command runs in the container after the CLI has returned."""

from __future__ import annotations

import time

from testlib import wait_until

from freight.store import Store


def test_exec_detached_runs_in_the_background(runtime_store: Store, cli) -> None:
    cli("run", "-d", "--name", "host", "busybox", "sleep", "30", check=True)
    try:
        started = time.monotonic()
        result = cli("exec", "-d", "-e", "WHO=bg", "-w", "/tmp", "host", "sh", "-c",
                     "sleep 1; echo $WHO $PWD > /tmp/marker", check=True)
        assert result.stdout == "" and time.monotonic() - started < 1.0
        assert "sleep 1" in cli("exec", "host", "ps", check=True).stdout  # started before exec -d returned
        missing = cli("exec", "-d", "host", "no-such-command")
        assert missing.returncode == 127 and "no-such-command" in missing.stderr
        wait_until(lambda: cli("exec", "host", "cat", "/tmp/marker").returncode == 0, timeout=15, interval=0.2)
        assert cli("exec", "host", "cat", "/tmp/marker", check=True).stdout == "bg /tmp\n"
    finally:
        cli("rm", "-f", "host")
    cli("run", "--name", "done", "busybox", "true", check=True)
    stopped = cli("exec", "-d", "done", "true")
    assert stopped.returncode == 1 and "is not running" in stopped.stderr
    cli("rm", "done", check=True)
