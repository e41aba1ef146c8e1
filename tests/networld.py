"""Network worlds for the networking tests: namespaces the test makes and removes.

The whole session already runs in a network and mount namespace of its own
(``conftest.isolate_session``), so nothing a test (or freight) does to interfaces,
routes, sysctls or the firewall reaches the machine. A ``World`` adds, per test:

* ``host``: the namespace freight runs in (``World.freight``), the containers' "machine";
* ``out``: the outside world, joined to ``host`` by a veth (198.51.100.1 <-> .2,
  TEST-NET-2), with an HTTP server on 203.0.113.10 (TEST-NET-3, on its loopback) and
  no route back to any container subnet: only working NAT gets an answer. ``dns_server``
  adds a DNS server there (on another TEST-NET-3 address) that knows a few names.

``host`` has no other uplink, so no query leaves it. ``close`` stops the servers,
freight's DNS server and the namespaces (their veths and bridges go with them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from testlib import FREIGHT, freight_env

OUTSIDE_IP = "203.0.113.10"
HOST_IP = "198.51.100.1"
OUT_IP = "198.51.100.2"
DNS_IP = "203.0.113.53"
OUTSIDE_IP6 = "2001:db8:2::10"  # IPv6 documentation addresses (``ipv6``)
HOST_IP6 = "2001:db8:1::1"
OUT_IP6 = "2001:db8:1::2"

# A DNS server of a few lines: A records for the names given as NAME=ADDRESS arguments, an
# empty answer for their other types, NXDOMAIN for other names; it prints "ready" once bound.
_DNS_SERVER = """
import socket, struct, sys
records = dict(arg.split("=") for arg in sys.argv[2:])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(4096)
    i, labels = 12, []
    while data[i]:
        labels.append(data[i + 1:i + 1 + data[i]].decode())
        i += 1 + data[i]
    qtype = struct.unpack("!H", data[i + 1:i + 3])[0]
    name = ".".join(labels).lower()
    answer = b""
    if name in records and qtype == 1:
        answer = b"\\xc0\\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(records[name])
    flags = 0x8180 | (0 if name in records else 3)
    header = struct.pack("!HHHHHH", struct.unpack("!H", data[:2])[0], flags, 1, 1 if answer else 0, 0, 0)
    s.sendto(header + data[12:i + 5] + answer, peer)
"""


def ip(*args: str, netns: str | None = None) -> str:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


class World:
    """Two namespaces (``host``, ``out``) and the servers started in them."""

    def __init__(self, root: Path, tag: str, files: Path) -> None:
        self.root = root
        self.host = f"frtw-host-{tag}"
        self.out = f"frtw-out-{tag}"
        self.servers: list[subprocess.Popen[bytes]] = []
        for name in (self.host, self.out):
            ip("netns", "add", name)
        ip("link", "add", "up0", "type", "veth", "peer", "name", "out0", "netns", self.out, netns=self.host)
        for line in ("link set lo up", f"addr add {HOST_IP}/24 dev up0", "link set up0 up",
                     f"route add default via {OUT_IP}"):
            ip(*line.split(), netns=self.host)
        for line in ("link set lo up", f"addr add {OUT_IP}/24 dev out0", "link set out0 up",
                     f"addr add {OUTSIDE_IP}/32 dev lo"):
            ip(*line.split(), netns=self.out)
        (files / "hello.txt").write_text("hello from outside\n")
        self.files = files
        self.serve(self.out, ["python3", "-m", "http.server", "--bind", OUTSIDE_IP, "80", "--directory", str(files)],
                   OUTSIDE_IP, 80)

    def nsenter(self, netns: str) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{netns}", "--"]

    def serve(self, netns: str, argv: list[str], address: str, port: int) -> subprocess.Popen[bytes]:
        """Start ``argv`` in ``netns`` and wait until ``address:port`` accepts connections."""
        proc = subprocess.Popen([*self.nsenter(netns), *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.servers.append(proc)
        probe = f"import socket; socket.create_connection(('{address}', {port}), 0.5).close()"
        deadline = time.monotonic() + 10
        while subprocess.run([*self.nsenter(netns), "python3", "-c", probe], capture_output=True).returncode:
            assert proc.poll() is None and time.monotonic() < deadline, f"{argv} did not start"
            time.sleep(0.05)
        return proc

    def ipv6(self) -> str:
        """IPv6 on the veth between ``host`` and ``out`` (and a default route), and the HTTP
        server on ``OUTSIDE_IP6`` in ``out``, which has no route back to container subnets."""
        ip("addr", "add", f"{HOST_IP6}/64", "dev", "up0", "nodad", netns=self.host)
        ip("-6", "route", "add", "default", "via", OUT_IP6, netns=self.host)
        ip("addr", "add", f"{OUT_IP6}/64", "dev", "out0", "nodad", netns=self.out)
        ip("addr", "add", f"{OUTSIDE_IP6}/128", "dev", "lo", netns=self.out)
        self.serve(self.out, ["python3", "-m", "http.server", "--bind", OUTSIDE_IP6, "80", "--directory",
                              str(self.files)], OUTSIDE_IP6, 80)
        return OUTSIDE_IP6

    def dns_server(self, records: dict[str, str]) -> str:
        """A DNS server in ``out`` that knows ``records`` (name -> IPv4 address); its address."""
        ip("addr", "add", f"{DNS_IP}/32", "dev", "lo", netns=self.out)
        argv = [f"{name}={address}" for name, address in records.items()]
        proc = subprocess.Popen([*self.nsenter(self.out), "python3", "-c", _DNS_SERVER, DNS_IP, *argv],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.servers.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n", "the DNS server did not start"
        return DNS_IP

    def freight(self, *args: str, timeout: float = 60, check: bool = False,
                **env: str) -> subprocess.CompletedProcess[str]:
        """``freight ARGS`` in the ``host`` namespace, on the world's store (``env`` added)."""
        result = subprocess.run([*self.nsenter(self.host), str(FREIGHT), *args], capture_output=True, text=True,
                                timeout=timeout, env=freight_env(self.root, **env), stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AssertionError(f"freight {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*self.nsenter(self.host), str(FREIGHT), *args], env=freight_env(self.root),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run_in(self, netns: str, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.nsenter(netns), *argv], capture_output=True, text=True, timeout=30)

    def leftovers(self) -> dict[str, object]:
        """What freight's networking holds in ``host`` and the store: veths, leases, port
        elements, DNS names and DNS server (empty when nothing runs)."""
        links = [line.split(":")[1].strip().split("@")[0] for line in ip("-o", "link", "show", netns=self.host)
                 .splitlines()]
        veths = [name for name in links if name.startswith("frt") and "-" not in name]
        table = self.run_in(self.host, "nft", "-j", "list", "map", "ip", "freight", "ports").stdout
        elements = '"elem"' in table
        import sqlite3

        db = sqlite3.connect(self.root / "metadata.db")
        try:
            leases = [r[0] for r in db.execute("SELECT container_id FROM endpoints")]
        except sqlite3.OperationalError:
            leases = []
        finally:
            db.close()
        folder = self.root / "network" / "aardvark"
        names = [line for f in folder.glob("*") if f.name != "aardvark.pid"
                 for line in f.read_text().splitlines()[1:]] if folder.exists() else []
        found: dict[str, object] = {"veths": veths, "leases": leases, "port elements": elements, "dns": names,
                                    "dns server": _aardvark(folder)}
        return {k: v for k, v in found.items() if v}

    def settled(self, timeout: float = 5) -> dict[str, object]:
        """``leftovers`` once they are gone or ``timeout`` passed: the kernel removes a dead
        namespace's veths asynchronously (a few ms, longer on a loaded machine)."""
        deadline = time.monotonic() + timeout
        while (found := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def close(self) -> None:
        pid = _aardvark(self.root / "network" / "aardvark")
        if pid:
            os.kill(pid, signal.SIGKILL)
        for proc in self.servers:
            proc.kill()
            proc.wait()
        for name in (self.host, self.out):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _aardvark(folder: Path) -> int | None:
    try:
        pid = int((folder / "aardvark.pid").read_text().strip())
        return pid if b"aardvark" in Path(f"/proc/{pid}/cmdline").read_bytes() else None
    except (OSError, ValueError):
        return None
