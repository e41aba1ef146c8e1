"""Benchmark: rootless ``freight`` against rootless ``podman``, as the same ordinary user.

Two commands, timed in pairs (each round runs every engine once, in turn), whole-process
wall times as medians and the ratio freight / podman:

* ``run --rm --network none IMAGE true`` (a busybox made from Debian's busybox-static);
* a fully cached ``build`` of FROM busybox + RUN + COPY + ENV.

Usage: ``python bench/rootless.py [--runs N] [--user NAME]`` as root, after
``scripts/setup.sh`` (the users' environment) and with a user that has subordinate
ranges (default ``freight-rl``, the one the rootless tests make). Each engine runs
through ``runuser`` with a clean environment, so the times include the user
namespace's join (freight) or pause process (podman), as a user sees them.

Figures (2-core machine, 15 rounds, medians): see docs/architecture.md, "Rootless".
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGE = "localhost/freight-bench-busybox:latest"


def user_env() -> Path:
    digest = hashlib.sha1(str(REPO).encode()).hexdigest()[:12]
    return Path(os.environ.get("FREIGHT_USER_ENV") or f"/usr/local/lib/freight-user-env/{digest}")


def as_user(user: str, home: Path, argv: list[str]) -> list[str]:
    env = {"HOME": str(home), "PATH": f"{user_env()}/bin:/usr/bin:/bin", "XDG_DATA_HOME": str(home / "data")}
    return ["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.decode()[-500:]}")
    return elapsed


def prepare(user: str, home: Path) -> dict[str, list[str]]:
    rootfs = home / "rootfs"
    subprocess.run([str(REPO / "scripts" / "busybox-rootfs.sh"), str(rootfs)], check=True)
    tar = home / "busybox.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
    ctx = home / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM localhost/freight-bench-busybox\nRUN echo built > /built\n"
                                    "COPY data /data\nENV MODE=bench\n")
    (ctx / "data").write_bytes(os.urandom(1 << 20))
    subprocess.run(["chown", "-R", user, str(home)], check=True)
    for engine in ("freight", "podman"):
        subprocess.run(as_user(user, home, [engine, "import", tar.as_posix(), IMAGE]), cwd=home, check=True,
                       capture_output=True)
        subprocess.run(as_user(user, home, build(engine, ctx)), cwd=home, check=True, capture_output=True)
    return {f"{e} {what}": as_user(user, home, argv)
            for e in ("freight", "podman")
            for what, argv in (("run", [e, "run", "--rm", "--network", "none", IMAGE, "true"]),
                               ("build", build(e, ctx)))}


def build(engine: str, ctx: Path) -> list[str]:
    """The build command: podman's RUN steps without slirp4netns, which cannot open a 0600
    /dev/net/tun (freight's RUN steps use the user's own network namespace)."""
    network = ["--network", "none"] if engine == "podman" else []
    return [engine, "build", *network, "-q", "-t", "bench-built", ctx.as_posix()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--user", default="freight-rl")
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("podman") is None:
        sys.exit("rootless: needs root (to run as the user) and podman")
    home = Path(tempfile.mkdtemp(prefix="freight-rl-bench-", dir="/tmp"))
    os.chown(home, pwd.getpwnam(args.user).pw_uid, -1)
    try:
        commands = prepare(args.user, home)
        for argv in commands.values():  # warm caches and byte-code
            timed(argv, home)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                time.sleep(0.2)
                times[name].append(timed(argv, home))
    finally:
        subprocess.run(as_user(args.user, home, ["podman", "rmi", "-af"]), cwd=home, capture_output=True)
        subprocess.run(as_user(args.user, home, ["podman", "unshare", "rm", "-rf", str(home / "data")]),
                       cwd=home, capture_output=True)
        subprocess.run(as_user(args.user, home, ["freight", "unshare", "rm", "-rf", str(home)]), cwd="/",
                       capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"{name:14} median {medians[name] * 1000:7.1f} ms  min {min(values) * 1000:7.1f} ms  "
              f"({len(values)} runs)")
    for what in ("run", "build"):
        print(f"{what}: freight / podman = {medians['freight ' + what] / medians['podman ' + what]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
