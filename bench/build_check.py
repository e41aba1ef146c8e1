"""Benchmark: the cost of ``freight build --check`` against one cold build.

The Dockerfile is a deterministic multi-step build on busybox, shaped like the course's
example 05 (a package-install stand-in RUN, then the application COPY, then RUNs that
use it). Each round times, in turn, whole processes of: a cold build (``--no-cache``),
``--check`` on a warm cache (the first build cached, the check build cold, in its own
store), and ``--check --no-cache`` (both cold). Reported: medians and their ratios to
the cold build. The aim (issue 14): ``--check`` costs at most twice one cold build.

Usage: ``python bench/build_check.py [--runs N] [--keep]`` (as root).

Figures (2-core machine shared with other work; whole processes, 7 pairs run in turn,
median of the per-pair ratios): ``--check`` on a warm cache 1.05x one cold build (the
first build is cached, the check's is cold); ``--check --no-cache`` 1.91x (two cold
builds; the check's store links the base image's unpacked snapshots instead of
unpacking them again). Before that linking, copying and unpacking the base and removing
it again cost about 0.8 s here and ``--check --no-cache`` was 2.24x. Single runs vary
by a factor of two on such a machine: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from build import timed

REPO = Path(__file__).resolve().parents[1]
FREIGHT = [str(Path(sys.executable).parent / "freight")]
DOCKERFILE = """\
FROM busybox
RUN mkdir -p /usr/lib/app-deps && for i in $(seq 1 200); do echo "package $i" > /usr/lib/app-deps/p$i; done
COPY app.py /app/app.py
COPY data/ /app/data/
WORKDIR /app
RUN sed -n 's/^print("\\\\(.*\\\\)")$/\\\\1/p' app.py > out.txt && tar -cf /app/data.tar data
RUN mkdir unpacked && tar -xf data.tar -C unpacked && ln -s /app/out.txt /out && touch /app/ready
ENV APP=check
CMD ["cat", "/app/out.txt"]
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="freight-bench-check-"))
    try:
        ctx = work / "ctx"
        (ctx / "data").mkdir(parents=True)
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        (ctx / "app.py").write_text("".join(f'print("line {i}")\n' for i in range(100)))
        for i in range(50):
            (ctx / "data" / f"f{i}.txt").write_bytes(os.urandom(20_000))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(FREIGHT_ROOT=str(work / "root"), PYTHONPATH=str(REPO))
        rootfs = work / "rootfs"
        subprocess.run([REPO / "scripts" / "busybox-rootfs.sh", rootfs], check=True)
        path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        subprocess.run(FREIGHT + ["import", "--change", f"ENV {path}", str(rootfs), "busybox:latest"],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        build = FREIGHT + ["build", "-q", "-t", "bench:check", str(ctx)]
        runs = {"cold build": build[:2] + ["--no-cache"] + build[2:],
                "--check (warm cache)": build[:2] + ["--check"] + build[2:],
                "--check --no-cache": build[:2] + ["--check", "--no-cache"] + build[2:]}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for cmd in runs.values():
            timed(cmd, env)  # warm-up
        for _ in range(args.runs):
            for name, cmd in runs.items():
                times[name].append(timed(cmd, env))
        cold = statistics.median(times["cold build"])
        print(f"{'run':<24}{'median (s)':>12}{'/ cold build':>14}")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{name:<24}{median:>12.3f}{median / cold:>13.2f}x")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
