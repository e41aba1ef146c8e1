"""``freight images`` / ``freight ps`` against podman's (and docker's): medians and ratios.

Usage (as root): ``python bench/listing.py [--runs N]``

Each engine gets the same content in a store of its own: the busybox root filesystem
(``scripts/busybox-rootfs.sh``) imported as an image with three tags, and three exited
containers of it. podman uses a fresh ``--root``/``--runroot`` in the bench's temporary
directory (and the containers.conf of ``run_latency.py``), so it lists exactly that;
docker, when a daemon answers, lists what its daemon holds plus the same image. Runs
are interleaved, one of each command per round.

Measured on a 2-core machine (Python 3.11, byte-code compiled, as after ``pip
install``), 40 rounds, load average under 1:

    command   freight   podman   freight/podman   (min: freight, podman)
    images    60.4 ms   48.9 ms  1.23             36.5 ms, 39.1 ms
    ps        64.2 ms   56.5 ms  1.14             42.0 ms, 42.7 ms
    ps -a     64.2 ms   61.8 ms  1.04             45.4 ms, 42.7 ms

freight's fastest runs match podman's, its medians do not: they spread more (a Python
process maps and touches more fresh memory, which is slow on this virtual machine).
Back to back with no pause between commands, ``freight images`` was 0.98x ``podman
images`` (45 ms against 49 ms, 40 pairs).

Before the start-up work (typing, pathlib and threading imported by every command, the
store's blob store and snapshots opened eagerly, the interpreter's full teardown at
exit), ``freight images`` took 1.6x and ``freight ps`` 2.7x podman's default store's
times. What is left is mostly the interpreter itself: ``python -c 'import re,
argparse, sqlite3, json'`` alone takes about as long as ``podman ps``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run_latency import FREIGHT, SETTLE, docker_available, make_rootfs, podman_conf, start, timed

TAGS = ["bench/listing:1", "bench/listing:2", "bench/listing:3"]
COMMANDS = {"images": ["images"], "ps": ["ps"], "ps -a": ["ps", "-a"]}


def setup_freight(work: Path, rootfs: Path, env: dict[str, str]) -> list[str]:
    from freight.store import open_store
    from freight.store.importer import import_rootfs

    store = open_store(work / "freight-root")
    import_rootfs(store, rootfs, TAGS, {"Cmd": ["sh"]})
    env["FREIGHT_ROOT"] = str(store.root)
    for n in range(3):
        subprocess.run([str(FREIGHT), "run", "--name", f"listing{n}", TAGS[0], "true"], env=env, check=True)
    return [str(FREIGHT)]


def setup_podman(work: Path, rootfs: Path, env: dict[str, str]) -> list[str] | None:
    if shutil.which("podman") is None:
        return None
    podman_conf(work, env)
    podman = ["podman", "--root", str(work / "podman-root"), "--runroot", str(work / "podman-run")]
    _import(podman, rootfs, env)
    for n in range(3):
        subprocess.run([*podman, "run", "--name", f"listing{n}", TAGS[0], "true"], env=env, check=True,
                       capture_output=True)
    return podman


def setup_docker(rootfs: Path) -> list[str] | None:
    if not docker_available():
        return None
    _import(["docker"], rootfs, dict(os.environ))
    return ["docker"]


def _import(engine: list[str], rootfs: Path, env: dict[str, str]) -> None:
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run([*engine, "import", "-", TAGS[0]], stdin=tar.stdout, env=env, check=True,
                   capture_output=True)
    tar.wait()
    for tag in TAGS[1:]:
        subprocess.run([*engine, "tag", TAGS[0], tag], env=env, check=True, capture_output=True)


def cleanup(engines: dict[str, list[str]], env: dict[str, str]) -> None:
    if "podman" in engines:
        subprocess.run([*engines["podman"], "rm", "-af"], env=env, capture_output=True)
        subprocess.run([*engines["podman"], "rmi", "-af"], env=env, capture_output=True)
    if "docker" in engines:
        subprocess.run(["docker", "rmi", *TAGS], capture_output=True)


def measure(engines: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[tuple[str, str], list[float]]:
    times: dict[tuple[str, str], list[float]] = {}
    for engine in engines.values():  # warm caches
        for args in COMMANDS.values():
            timed([*engine, *args], env)
    for _ in range(runs):
        for command, args in COMMANDS.items():
            for name, engine in engines.items():
                time.sleep(SETTLE / 3)
                times.setdefault((command, name), []).append(timed([*engine, *args], env))
    return times


def report(times: dict[tuple[str, str], list[float]], engines: list[str]) -> None:
    print(f"{'command':8} {'engine':8} {'median':>9} {'min':>9}   ratio")
    for command in COMMANDS:
        ours = statistics.median(times[(command, "freight")])
        for name in engines:
            values = times[(command, name)]
            median = statistics.median(values)
            ratio = "" if name == "freight" else f"freight/{name} {ours / median:.2f}"
            print(f"{command:8} {name:8} {median * 1000:8.1f}ms {min(values) * 1000:8.1f}ms   {ratio}")


def main() -> int:
    args, env = start(__doc__, "listing")
    with tempfile.TemporaryDirectory(prefix="freight-bench-") as tmp:
        work = Path(tmp)
        rootfs = make_rootfs(work)
        engines = {"freight": setup_freight(work, rootfs, env)}
        for name, engine in (("podman", setup_podman(work, rootfs, env)), ("docker", setup_docker(rootfs))):
            if engine:
                engines[name] = engine
        try:
            times = measure(engines, env, args.runs)
        finally:
            cleanup(engines, env)
    report(times, list(engines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
