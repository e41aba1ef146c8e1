"""What each running container costs in memory: its monitor's proportional set size (PSS).

Usage (as root): ``python bench/monitor_memory.py [--counts 1,10,50] [--runtime NAME]``

For each count N, starts N detached ``busybox sleep`` containers in a temporary store
(the busybox root filesystem of ``scripts/busybox-rootfs.sh``, with freight's built-in
runtime or ``--runtime NAME``), waits for them to settle (a freight monitor makes itself
small once its container has run two seconds: ``freight/runtime/slim.py``), then reads
``/proc/<monitor>/smaps_rollup`` of every container's monitor (the ``MonitorPid`` of its
record) and reports the mean, minimum and maximum PSS and the total, in MiB; the
containers are removed before the next count. PSS shares each page among the processes
that map it, so the total is what the monitors together cost. Only the monitor is
counted: an external runtime's own processes (gVisor's sandbox and gofer, about 11 MiB
per container) come on top.

When podman is installed, the same N containers run under podman too (the same tree,
``podman import``ed, run with crun) and its per-container monitor,
conmon (``State.ConmonPid``), is measured the same way; the script prints
``freight monitor / conmon, N running: R`` (the ratio of the mean PSS), which
``bench/report.py`` reads.

The whole run is in a network and mount namespace of its own (``netns.py``), so the
bridges and firewall tables of freight's and podman's default networks stay off the
machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from netns import prepare, private_network
from run_latency import HUGETLB, IMAGE, mount_hugetlb, setup_podman

REPO = Path(__file__).resolve().parents[1]
FREIGHT = Path(sys.executable).parent / "freight"
# Seconds for the monitors to settle: a freight monitor re-executes itself small once its
# container has run freight.runtime.slim.SETTLE seconds (2 s); what it costs from then on is
# what a running container costs.
SETTLE = 4.0


def pss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


def run(*args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(list(args), check=True, capture_output=True, text=True, env=env).stdout


def measure_freight(root: Path, count: int, runtime: str) -> list[float]:
    freight = [str(FREIGHT), "--root", str(root)]
    ids = [run(*freight, "run", "-d", "--runtime", runtime, "busybox", "sleep", "600").strip() for _ in range(count)]
    try:
        time.sleep(SETTLE)
        return [pss_mib(_monitor(root, cid)) for cid in ids]
    finally:
        run(*freight, "rm", "-f", *ids)


def _monitor(root: Path, cid: str) -> int:
    """The monitor's PID, as its record holds it."""
    with closing(sqlite3.connect(root / "metadata.db")) as db:
        state = json.loads(db.execute("SELECT state FROM containers WHERE id = ?", (cid,)).fetchone()[0])
    return int(state["MonitorPid"])


def measure_conmon(count: int, env: dict[str, str]) -> list[float]:
    podman = ["podman", "--runtime", "crun"]
    ids = [run(*podman, "run", "-d", IMAGE, "sleep", "600", env=env).strip() for _ in range(count)]
    try:
        time.sleep(SETTLE)
        return [pss_mib(int(run("podman", "inspect", "-f", "{{.State.ConmonPid}}", cid, env=env))) for cid in ids]
    finally:
        run("podman", "rm", "-f", "-t", "0", *ids, env=env)


def remove_cgroups() -> None:
    """The empty cgroups left in the hugetlb hierarchy we mounted (the controller stays bound
    machine-wide while a cgroup is left in it)."""
    for left in HUGETLB.glob("*/"):
        try:
            left.rmdir()
        except OSError:
            continue


def line(who: str, count: int, sizes: list[float]) -> str:
    return (f"{who:8} {count:7d}  {statistics.mean(sizes):6.2f} {min(sizes):6.2f} {max(sizes):6.2f} "
            f"{sum(sizes):8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,10,50")
    parser.add_argument("--runtime", default="freight", help="the OCI runtime of freight's containers")
    args = parser.parse_args()
    private_network()  # freight's and podman's default networks stay off the machine
    prepare()
    from freight.store import open_store
    from freight.store.importer import import_rootfs

    env = dict(os.environ)
    # crun's (freight's --runtime crun, podman's) on a hybrid host, in this run's mount namespace
    mounted_hugetlb = mount_hugetlb()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rootfs = work / "rootfs"
        run(str(REPO / "scripts" / "busybox-rootfs.sh"), str(rootfs))
        root = work / "store"
        import_rootfs(open_store(root), rootfs, ["busybox:latest"],
                      {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]})
        podman = setup_podman(work, rootfs, env) is not None  # the image imported
        print(f"freight's containers: --runtime {args.runtime}")
        print("monitor  running  PSS per monitor, MiB: mean  min    max    total")
        ratios = []
        try:
            for count in (int(c) for c in args.counts.split(",")):
                mine = measure_freight(root, count, args.runtime)
                print(line("freight", count, mine), flush=True)
                if podman:
                    theirs = measure_conmon(count, env)
                    print(line("conmon", count, theirs), flush=True)
                    ratios.append((count, statistics.mean(mine) / statistics.mean(theirs)))
        finally:
            if podman:
                subprocess.run(["podman", "rmi", "-f", IMAGE], env=env, capture_output=True)
            if mounted_hugetlb:
                remove_cgroups()
        for count, ratio in ratios:
            print(f"freight monitor / conmon, {count} running: {ratio:.2f}")


if __name__ == "__main__":
    main()
