"""How ``freight`` leaves: exit handlers run and running threads are waited for, even though
the interpreter's teardown is skipped (``cli/main.py``, ``_exit``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import atexit, sys, threading, time
from freight.cli.main import _exit
out = open(sys.argv[1], "w")
atexit.register(lambda: out.write("exit handler ran\\n") and out.flush())
threading.Thread(target=lambda: None).start()  # finished: nothing to wait for
if sys.argv[2] == "busy":
    def late():
        time.sleep(0.5)
        out.write("thread finished\\n")
    threading.Thread(target=late).start()
sys.stdout.write("printed")  # still buffered: _exit flushes it
_exit(3)
"""


def _leave(tmp_path: Path, threads: str) -> tuple[subprocess.CompletedProcess[str], str]:
    record = tmp_path / "record"
    result = subprocess.run([sys.executable, "-c", _SCRIPT, str(record), threads],
                            capture_output=True, text=True, timeout=60)
    return result, record.read_text()


def test_exit_handlers_run_and_output_is_flushed(tmp_path: Path) -> None:
    result, record = _leave(tmp_path, "done")
    assert (result.returncode, result.stdout, result.stderr) == (3, "printed", "")
    assert record == "exit handler ran\n"


def test_exit_waits_for_a_running_thread(tmp_path: Path) -> None:
    result, record = _leave(tmp_path, "busy")
    assert (result.returncode, result.stdout, result.stderr) == (3, "printed", "")
    assert record == "thread finished\nexit handler ran\n"
