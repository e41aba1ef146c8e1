"""Container networking: what the default bridge adds to ``run``, and published ports, against podman.

Usage (as root): ``python bench/network.py [--runs N] [--megabytes M] [--seconds S]``

Everything runs in a network and mount namespace of its own (the script re-executes
itself under ``unshare --net --mount``), so no bridge, firewall table or sysctl of the
machine changes; podman gets a private store, run root and configuration there.

* Run latency: ``run --rm IMAGE true`` with the default network and with ``--network
  none``, for freight and for podman (netavark), interleaved, medians; each engine's
  network cost is the difference, and the report gives freight's share of podman's
  (the target is at most one half).
* Published port, host client to container server (``-p 127.0.0.1:PORT:80``):
  throughput of one TCP stream of ``--megabytes`` into busybox ``nc`` (a sink), and the
  connection rate of ``--seconds`` of connect/close against busybox ``httpd``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netns import prepare, private_network

REPO = Path(__file__).resolve().parents[1]
FREIGHT = Path(sys.executable).parent / "freight"
IMAGE = "localhost/freight-bench-busybox:latest"
SETTLE = 0.3


def sh(*argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.decode()[-400:]}")
    return elapsed


class Engines:
    """freight and podman, each on a private store, running the same busybox tree."""

    def __init__(self, work: Path) -> None:
        rootfs = work / "rootfs"
        sh(str(REPO / "scripts" / "busybox-rootfs.sh"), str(rootfs))
        tar = work / "rootfs.tar"
        sh("tar", "-C", str(rootfs), "-cf", str(tar), ".")
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env["FREIGHT_ROOT"] = str(work / "freight")
        sh(str(FREIGHT), "import", "--change", 'CMD ["sh"]', str(tar), IMAGE, env=self.env)
        self.freight = [str(FREIGHT)]
        self.podman: list[str] | None = None
        if shutil.which("podman"):
            conf = work / "containers.conf"
            conf.write_text('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n')
            self.env["CONTAINERS_CONF"] = str(conf)
            self.podman = ["podman", "--root", str(work / "podman"), "--runroot", str(work / "podman-run")]
            sh(*self.podman, "import", "-q", str(tar), IMAGE, env=self.env)

    def all(self) -> dict[str, list[str]]:
        return {"freight": self.freight, **({"podman": self.podman} if self.podman else {})}


def run_latency(engines: Engines, runs: int) -> dict[str, list[float]]:
    variants = {}
    for name, base in engines.all().items():
        variants[f"{name} default"] = [*base, "run", "--rm", IMAGE, "true"]
        variants[f"{name} none"] = [*base, "run", "--rm", "--network", "none", IMAGE, "true"]
    for argv in variants.values():
        for _ in range(2):
            timed(argv, engines.env)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, argv in variants.items():
            time.sleep(SETTLE)
            times[name].append(timed(argv, engines.env))
    return times


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never answered")


def throughput(port: int, megabytes: int) -> float:
    """MB/s of one stream into the sink (until the server has read it all and closed)."""
    chunk = b"\0" * (1 << 20)
    with socket.create_connection(("127.0.0.1", port)) as s:
        start = time.perf_counter()
        for _ in range(megabytes):
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)
        return megabytes / (time.perf_counter() - start)


def connection_rate(port: int, seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            while s.recv(4096):
                pass
        done += 1
    return done / (time.perf_counter() - start)


def ports(engines: Engines, megabytes: int, seconds: float, rounds: int = 5) -> dict[str, tuple[float, float]]:
    """Each engine's sink and web server run side by side (host ports 18080+), measured in
    alternation so that load changes hit all alike; medians of ``rounds``."""
    servers: dict[str, tuple[int, int]] = {}
    try:
        for index, (name, base) in enumerate(engines.all().items()):
            sink_port, web_port = 18080 + 2 * index, 18081 + 2 * index
            sh(*base, "run", "-d", "--name", "sink", "-p", f"127.0.0.1:{sink_port}:80", IMAGE,
               "nc", "-ll", "-p", "80", "-e", "sh", "-c", "cat > /dev/null", env=engines.env)
            sh(*base, "run", "-d", "--name", "web", "-p", f"127.0.0.1:{web_port}:80", IMAGE, "sh", "-c",
               "mkdir /www && echo hi > /www/index.html && exec httpd -f -p 80 -h /www", env=engines.env)
            servers[name] = (sink_port, web_port)
            _wait_port(sink_port)
            _wait_port(web_port)
        rates: dict[str, list[float]] = {name: [] for name in servers}
        conns: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(rounds):
            for name, (sink_port, web_port) in servers.items():
                rates[name].append(throughput(sink_port, megabytes))
                conns[name].append(connection_rate(web_port, seconds))
    finally:
        for name in servers:
            subprocess.run([*engines.all()[name], "rm", "-f", "sink", "web"], env=engines.env, capture_output=True)
    return {name: (statistics.median(rates[name]), statistics.median(conns[name])) for name in servers}


def report(times: dict[str, list[float]], port_figures: dict[str, tuple[float, float]]) -> None:
    med = {name: statistics.median(v) * 1000 for name, v in times.items()}
    print(f"{'run --rm IMAGE true':24} {'median':>9} {'min':>9}")
    for name, values in times.items():
        print(f"{name:24} {med[name]:8.1f}ms {min(values) * 1000:8.1f}ms")
    cost = {e: med[f"{e} default"] - med[f"{e} none"] for e in ("freight", "podman") if f"{e} none" in med}
    for engine, value in cost.items():
        print(f"network cost, {engine}: {value:.1f} ms")
    if "podman" in cost:
        print(f"freight's network cost / podman's: {cost['freight'] / cost['podman']:.2f} (target <= 0.50)")
        print(f"freight default / podman default: {med['freight default'] / med['podman default']:.2f}")
    print(f"freight default / freight none: {med['freight default'] / med['freight none']:.2f}")
    print(f"\n{'published port':12} {'MB/s':>9} {'conn/s':>9}")
    for name, (rate, conns) in port_figures.items():
        print(f"{name:12} {rate:9.0f} {conns:9.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("network: needs root")
    private_network()  # a namespace of our own first: nothing of the machine changes
    prepare(("/run/containers", "/run/libpod"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "freight")], check=True)
    with tempfile.TemporaryDirectory(prefix="freight-bench-net-") as tmp:
        engines = Engines(Path(tmp))
        times = run_latency(engines, args.runs)
        port_figures = ports(engines, args.megabytes, args.seconds)
    report(times, port_figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
