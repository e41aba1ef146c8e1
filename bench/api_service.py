"""The docker CLI through ``freight system service``, ``podman system service`` and dockerd:
medians and ratios of ``run --rm busybox true`` and ``ps``.

Usage (as root): ``python bench/api_service.py [--runs N]``

Each engine serves the same busybox root filesystem (``scripts/busybox-rootfs.sh``)
imported as an image, from a store of its own in the bench's temporary directory, on a
unix socket of its own: freight's service, podman's (fresh ``--root``/``--runroot``) and
a private dockerd (no bridge, no iptables, its own data root), all in a network and
mount namespace of the bench's own (``netns.py``). The same docker CLI drives all
three; containers run with ``--network none``, as the private dockerd has no bridge.
Runs are interleaved, one of each command per round, the engines in a new order each round
(a command timed right after another engine's ``run`` shares the machine with that
engine's clean-up: always the same engine there would bias its figures).

Measured on the 2-core development machine with nothing else running (Python 3.11,
byte-code compiled, docker CLI 28.2, Debian's dockerd 20.10 at API 1.41), in five runs of
20 to 100 rounds: ``run --rm true`` 57 ms against dockerd's 212 to 215 ms (0.27) and
podman's 270 to 292 ms; ``ps`` 0.98 to 1.00 of dockerd's time (medians 10.2 to 11.4 ms),
0.97 to 0.98 of podman's. ``run`` needs no daemon round trip to a shim: the monitor is
spawned directly. ``ps`` is two requests (``HEAD /_ping``, ``GET /containers/json``) on
one connection, which freight's service answers in 0.21 ms (0.12 ms of it its own CPU,
parsing with httptools) and dockerd in 0.18 ms; the docker CLI's own start-up is the
other 10 ms, so single runs of 40 rounds have also given 1.02 to 1.03: the two are
within each other's noise.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from netns import prepare, private_network
from run_latency import FREIGHT, SETTLE, make_rootfs, podman_conf, start, timed

IMAGE = "bench/api:1"
COMMANDS = {"run --rm true": ["run", "--rm", "--network", "none", IMAGE, "true"], "ps": ["ps"]}


def _import(command: list[str], rootfs: Path, env: dict[str, str]) -> None:
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run([*command, "import", "-", IMAGE], stdin=tar.stdout, env=env, check=True, capture_output=True)
    tar.wait()


def _wait_for(docker: str, sock: Path, proc: subprocess.Popen[bytes], env: dict[str, str]) -> None:
    deadline = time.monotonic() + 60
    while subprocess.run([docker, "--host", f"unix://{sock}", "version"], env=env,
                         capture_output=True).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{proc.args} did not start")
        time.sleep(0.2)


Services = dict[str, tuple[list[str], "subprocess.Popen[bytes]"]]


def serve(work: Path, rootfs: Path, docker: str, env: dict[str, str]) -> Services:
    """Start each engine's service; the docker command that reaches it, and its process."""
    engines: Services = {}
    root = work / "freight-root"
    freight_env = {**env, "FREIGHT_ROOT": str(root)}
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run([str(FREIGHT), "import", "-", IMAGE], stdin=tar.stdout, env=freight_env, check=True,
                   capture_output=True)
    tar.wait()
    sock = work / "freight.sock"
    proc = subprocess.Popen([str(FREIGHT), "system", "service", "--socket", str(sock), "--timeout", "0"],
                            env=freight_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(docker, sock, proc, env)
    engines["freight"] = ([docker, "--host", f"unix://{sock}"], proc)
    if shutil.which("podman"):
        podman_conf(work, env)
        podman = ["podman", "--root", str(work / "podman-root"), "--runroot", str(work / "podman-run")]
        _import(podman, rootfs, env)
        sock = work / "podman.sock"
        proc = subprocess.Popen([*podman, "system", "service", "--time", "0", f"unix://{sock}"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(docker, sock, proc, env)
        engines["podman"] = ([docker, "--host", f"unix://{sock}"], proc)
    if shutil.which("dockerd"):
        data = work / "dockerd"
        sock = work / "docker.sock"
        proc = subprocess.Popen(["dockerd", "--iptables=false", "--bridge=none", "--data-root", str(data / "data"),
                                 "--exec-root", str(data / "exec"), "--pidfile", str(data / "pid"),
                                 "--host", f"unix://{sock}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(docker, sock, proc, env)
        command = [docker, "--host", f"unix://{sock}"]
        _import(command, rootfs, env)
        engines["dockerd"] = (command, proc)
    return engines


def measure(engines: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[tuple[str, str], list[float]]:
    times: dict[tuple[str, str], list[float]] = {}
    for command in engines.values():  # warm caches
        for args in COMMANDS.values():
            timed([*command, *args], env)
    order = random.Random(0)  # the same order on every machine: reproducible, but no engine always first
    for _ in range(runs):
        for name, args in COMMANDS.items():
            for engine in order.sample(list(engines), len(engines)):
                time.sleep(SETTLE / 3)
                times.setdefault((name, engine), []).append(timed([*engines[engine], *args], env))
    return times


def report(times: dict[tuple[str, str], list[float]], engines: list[str]) -> None:
    print(f"{'command':15} {'engine':8} {'median':>9} {'min':>9}   ratio")
    for name in COMMANDS:
        ours = statistics.median(times[(name, "freight")])
        for engine in engines:
            values = times[(name, engine)]
            median = statistics.median(values)
            ratio = "" if engine == "freight" else f"freight/{engine} {ours / median:.2f}"
            print(f"{name:15} {engine:8} {median * 1000:8.1f}ms {min(values) * 1000:8.1f}ms   {ratio}")


def main() -> int:
    args, env = start(__doc__ or "", "api_service")
    private_network()  # the daemons' sockets, bridges and tables stay out of the machine
    prepare()
    docker = shutil.which("docker")
    if docker is None:
        raise SystemExit("needs the docker CLI")
    with tempfile.TemporaryDirectory(prefix="freight-bench-") as folder:
        work = Path(folder)
        services = serve(work, make_rootfs(work), docker, env)
        try:
            _run(services, env, args.runs)
        finally:
            for _command, proc in services.values():
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return 0


def _run(services: Services, env: dict[str, str], runs: int) -> None:
    engines = {name: command for name, (command, _proc) in services.items()}
    report(measure(engines, env, runs), list(engines))


if __name__ == "__main__":
    os._exit(main())
