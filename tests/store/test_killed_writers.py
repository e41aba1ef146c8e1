"""``kill -9`` of an import, a pull or a build: what it was writing stays in its temporary
directory, ``system df`` and ``system check`` show it, and the next writing command removes
it, while a running writer's temporary files are counted and never touched."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from imagelib import make_image
from testlib import FREIGHT, freight_env, freight_process, run_freight, store_temporaries, wait_until

from freight.store import Store, open_store
from freight.store.diskusage import du

SIZE = 24 << 20  # the big file: incompressible, so its blob and its unpacked copy each hold this much
MOMENTS = [1, 4 << 20, 20 << 20]  # killed once its temporary files hold that many bytes


def _temporary_bytes(root: Path) -> int:
    """The bytes of the files the writers hold (their directories count too once they hold any)."""
    files = [os.path.join(d, f) for d, _dirs, names in os.walk(root / "tmp") for f in names]
    return du(str(root / "tmp")) if files else 0


def _writer_dirs(root: Path) -> list[str]:
    """The writers' temporary directories, but for this test process's own (``busybox_store``)."""
    names = os.listdir(root / "tmp") if (root / "tmp").is_dir() else []
    return sorted(name for name in names if not name.startswith(f"{os.getpid()}-"))


def _stop_when_holding(proc: subprocess.Popen, root: Path, size: int) -> None:
    """SIGSTOP the writer once its temporary directory holds ``size`` bytes."""
    def holding() -> str:
        if _writer_dirs(root) and _temporary_bytes(root) >= size:
            return "held"
        return "ended" if proc.poll() is not None else ""

    state = wait_until(holding, timeout=60, interval=0.001)
    assert state != "ended", f"the writer ended ({proc.returncode}) before holding {size} bytes"
    assert state, "the writer never held that much"
    proc.send_signal(signal.SIGSTOP)
    assert wait_until(lambda: all(_state(task) == "T" for task in Path(f"/proc/{proc.pid}/task").iterdir()),
                      timeout=60, interval=0.001)  # until every thread has stopped writing


def _state(task: Path) -> str:
    return (task / "stat").read_text().rsplit(")", 1)[1].split()[0]


def _temporary_row(cli) -> list[str]:
    lines = cli("system", "df", check=True).stdout.splitlines()
    return next(line.split() for line in lines if line.startswith("Temporary"))


def _kill_then_retry(store: Store, cli, argv: list[str], moment: int, stdin: Path | None = None) -> None:
    root = store.root
    with open(stdin or os.devnull, "rb") as source:
        writer = freight_process(root, *argv, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _stop_when_holding(writer, root, moment)
    held = _writer_dirs(root)
    assert held == [f"{writer.pid}-{Path(f'/proc/{writer.pid}/stat').read_text().rsplit(')', 1)[1].split()[19]}"]
    total, active = _temporary_row(cli)[1:3]
    assert (total, active) == ("1", "1")  # a running writer's: counted, not reclaimable
    assert "held by a running writer" in cli("system", "check", check=True).stdout
    writer.kill()
    writer.wait()
    row = _temporary_row(cli)
    assert row[1:3] == ["1", "0"] and row[3] == row[4]  # all of it reclaimable now
    assert "left by a killed writer" in cli("system", "check", check=True).stdout

    cli(*argv, stdin=stdin, check=True)  # the retry is the next writer

    assert store_temporaries(root) == [] and _writer_dirs(root) == []
    assert _temporary_row(cli)[1:] == ["0", "0", "0B", "0B"]
    assert cli("system", "check", check=True).stdout == "store is consistent\n"


@pytest.fixture
def big_tar(tmp_path: Path) -> Path:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "big").write_bytes(os.urandom(SIZE))
    tar = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
    return tar


@pytest.mark.parametrize("moment", MOMENTS)
def test_killed_import(store: Store, cli, big_tar: Path, moment: int) -> None:
    _kill_then_retry(store, cli, ["import", "-", "big:1"], moment, stdin=big_tar)


@pytest.mark.parametrize("moment", MOMENTS)
def test_killed_pull(store: Store, cli, tmp_path: Path, registry, moment: int) -> None:  # noqa: F811
    host = registry("freight")
    source = open_store(tmp_path / "source")
    make_image(source, [{"big": os.urandom(SIZE)}], [f"{host}/big:1"])
    pushed = run_freight(source.root, "push", "-q", f"{host}/big:1")
    assert pushed.returncode == 0, pushed.stderr
    _kill_then_retry(store, cli, ["pull", "-q", f"{host}/big:1"], moment)


@pytest.mark.parametrize("moment", [1, 4 << 20, SIZE + (4 << 20)])
def test_killed_build(busybox_store: Store, cli, tmp_path: Path, moment: int) -> None:
    """Killed while its RUN step writes (in the step's container directory, in tmp/), or, once
    the step is done, while the layer's blob is written."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM busybox\nRUN head -c {SIZE} /dev/urandom > /big\n")
    _kill_then_retry(busybox_store, cli, ["build", "-q", "-t", "big:1", str(context)], moment)


def test_a_live_writers_files_survive_other_writers(busybox_store: Store, cli, big_tar: Path,
                                                    busybox_rootfs: Path) -> None:
    root = busybox_store.root
    with open(big_tar, "rb") as source:
        writer = freight_process(root, "import", "-", "big:1", stdin=source)
    try:
        _stop_when_holding(writer, root, 4 << 20)
        held = _temporary_bytes(root)
        small = subprocess.run(["tar", "-C", str(busybox_rootfs), "-c", "."], capture_output=True, check=True)
        again = subprocess.run([str(FREIGHT), "import", "-", "again:1"], input=small.stdout,
                               capture_output=True, env=freight_env(root))
        assert again.returncode == 0, again.stderr
        assert _temporary_bytes(root) == held  # the stopped writer's files are all there
        writer.send_signal(signal.SIGCONT)
        assert writer.wait(timeout=60) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert cli("images", "-q", "big:1", check=True).stdout.strip()
    assert store_temporaries(root) == [] and _writer_dirs(root) == []
