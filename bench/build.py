"""Benchmark: ``freight build`` against ``podman build`` (and ``docker build`` with BuildKit
when a daemon answers), cold (``--no-cache``) and fully cached.

The Dockerfile is FROM busybox + RUN + COPY of 10 MB + RUN + ENV + CMD, the
base image a busybox made from Debian's busybox-static for every tool. Runs
are paired (each round times every tool once, in turn) and whole-process
wall times are reported as medians with the ratio freight / other.

Usage: ``python bench/build.py [--runs N] [--dockerd] [--keep]`` (as root;
podman and docker are skipped, with the reason, when they cannot run here).
``--dockerd`` starts a private dockerd for the run (no bridge, no iptables,
its own data root), stopped by PID at the end. The whole run is in a network and mount
namespace of its own (``netns.py``).

Figures (2-core machine, private dockerd, medians): 15 rounds gave freight 0.378 s
cold and 0.119 s cached against BuildKit's 0.602 s and 0.166 s (cold 0.63x, cached
0.72x; podman 0.19x and 0.23x). Earlier, 20 rounds gave cached 1.09x (0.166 s
against 0.153 s) while the build's records were dataclasses, and 10 rounds 1.14x
before the cached path stopped importing what only running steps need. A cached
build is mostly start-up: the interpreter (about 25 ms), argparse (about 20 ms)
and the build modules; ``dataclasses`` with the ``inspect`` it imports, and the
methods it generated for the build's 23 record classes, were about 40 ms of it
(records are now namedtuples and plain classes, and no annotation-only ``typing``
import is left on the path); the build itself (context, cache look-ups, tagging)
is about 20 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from netns import prepare, private_network

REPO = Path(__file__).resolve().parents[1]
FREIGHT = [str(Path(sys.executable).parent / "freight")]  # the console script, as installed
DOCKERFILE = """\
FROM busybox
RUN echo one > /one
COPY big.bin /data/big.bin
RUN wc -c /data/big.bin > /size
ENV APP=bench
CMD ["cat", "/size"]
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """The wall time of ``cmd``, which must succeed."""
    start = time.perf_counter()
    result = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


class Tool:
    def __init__(self, name: str, cold: list[str], cached: list[str], env: dict[str, str] | None = None) -> None:
        self.name, self.cold, self.cached, self.env = name, cold, cached, env
        self.times: dict[str, list[float]] = {"cold": [], "cached": []}

    def round(self) -> None:
        self.times["cold"].append(timed(self.cold, self.env))
        self.times["cached"].append(timed(self.cached, self.env))


def _rootfs(work: Path) -> Path:
    rootfs = work / "rootfs"
    subprocess.run([REPO / "scripts" / "busybox-rootfs.sh", rootfs], check=True)
    return rootfs


def freight_tool(work: Path, ctx: Path, rootfs: Path) -> Tool:
    root = work / "freight-root"
    # As installed: byte-compiled modules are written and reused.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(FREIGHT_ROOT=str(root), PYTHONPATH=str(REPO))
    path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    subprocess.run(FREIGHT + ["import", "--change", f"ENV {path}", "--change", 'CMD ["sh"]', str(rootfs),
                              "busybox:latest"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    args = ["-q", "-t", "bench:freight", str(ctx)]
    return Tool("freight", FREIGHT + ["build", "--no-cache", *args], FREIGHT + ["build", *args], env)


def podman_tool(work: Path, ctx: Path, rootfs: Path) -> Tool | str:
    podman = shutil.which("podman")
    if podman is None:
        return "podman is not installed"
    opts = [podman, "--root", str(work / "podman-root"), "--runroot", str(work / "podman-run"),
            "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--storage-driver", "overlay"]
    tar = work / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
    imported = subprocess.run(opts + ["import", "--change", 'CMD ["sh"]', str(tar), "busybox:latest"],
                              capture_output=True, text=True)
    if imported.returncode != 0:
        return f"podman import failed: {imported.stderr.strip()[-300:]}"
    build = opts + ["build", "-q", "--network", "host", "--ulimit", "nofile=20000:20000",
                    "--ulimit", "nproc=32768:32768", "-t", "bench:podman", str(ctx)]
    tool = Tool("podman", build[:len(opts) + 1] + ["--no-cache"] + build[len(opts) + 1:], build)
    try:
        tool.round()
    except RuntimeError as err:
        return f"podman build does not work here: {str(err)[-300:]}"
    tool.times = {"cold": [], "cached": []}
    return tool


def docker_tool(work: Path, ctx: Path, rootfs: Path) -> Tool | str:
    docker = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")
    if docker is None:
        return "docker is not installed"
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    if subprocess.run([docker, "info"], capture_output=True, env=env).returncode != 0:
        return "no docker daemon answers (set DOCKER_HOST to one started with --bridge=none)"
    tar = work / "rootfs.tar"
    if not tar.exists():
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
    subprocess.run([docker, "import", "--change", 'CMD ["sh"]', str(tar), "busybox:latest"], check=True,
                   capture_output=True, env=env)
    build = [docker, "build", "-q", "--network", "host", "-t", "bench:docker", str(ctx)]
    return Tool("docker (BuildKit)", build[:2] + ["--no-cache"] + build[2:], build, env)


def start_dockerd(work: Path) -> tuple[subprocess.Popen, str] | str:
    """A private dockerd, as the reference machines run it; its DOCKER_HOST."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        return "dockerd is not installed"
    sock = f"unix://{work}/docker.sock"
    log = open(work / "dockerd.log", "wb")
    proc = subprocess.Popen([dockerd, "--iptables=false", "--bridge=none", "--data-root", str(work / "docker-data"),
                             "--exec-root", str(work / "docker-exec"), "--pidfile", str(work / "docker.pid"),
                             "--host", sock], stdout=log, stderr=log)
    docker = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
    deadline = time.monotonic() + 30
    while subprocess.run([docker, "-H", sock, "info"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            return "dockerd did not start: see its log"
        time.sleep(0.2)
    return proc, sock


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--dockerd", action="store_true", help="start a private dockerd for the comparison")
    args = parser.parse_args()
    private_network()  # RUN steps and any daemon started here stay out of the machine's network
    prepare()
    work = Path(tempfile.mkdtemp(prefix="freight-bench-build-"))
    daemon = None
    try:
        if args.dockerd:
            started = start_dockerd(work)
            if isinstance(started, str):
                print(f"skipped: {started}")
            else:
                daemon, os.environ["DOCKER_HOST"] = started
        ctx = work / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        (ctx / "big.bin").write_bytes(os.urandom(10 * 1024 * 1024))
        rootfs = _rootfs(work)
        makers: list[Callable[[Path, Path, Path], Tool | str]] = [freight_tool, podman_tool, docker_tool]
        tools: list[Tool] = []
        for make in makers:
            made = make(work, ctx, rootfs)
            if isinstance(made, str):
                print(f"skipped: {made}")
            else:
                tools.append(made)
        for tool in tools:
            tool.round()  # warm-up: page cache, first-build layers
        for _ in range(args.runs):
            for tool in tools:
                tool.round()
        _report(tools)
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _report(tools: list[Tool]) -> None:
    ours = tools[0]
    print(f"{'tool':<20}{'cold (s)':>10}{'cached (s)':>12}{'cold ratio':>12}{'cached ratio':>14}")
    for tool in tools:
        cold, cached = (statistics.median(tool.times[k]) for k in ("cold", "cached"))
        ratio_cold = statistics.median(ours.times["cold"]) / cold
        ratio_cached = statistics.median(ours.times["cached"]) / cached
        print(f"{tool.name:<20}{cold:>10.3f}{cached:>12.3f}{ratio_cold:>11.2f}x{ratio_cached:>13.2f}x")
    print("ratio = freight median / tool median (below 1: freight is faster); "
          "BuildKit reference on this kind of machine: 0.20 s cold, 0.06 s cached")


if __name__ == "__main__":
    sys.exit(main())
