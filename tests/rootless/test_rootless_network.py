"""A rootless container's network: outbound through slirp4netns, its DNS forwarder, published
ports, nothing left behind, and the one line where /dev/net/tun is out of the user's reach.

/dev/net/tun is mode 0600 on these machines, so slirp4netns cannot open it as a user. The
tests that need it give the user a usable device in a private mount namespace of their
own (a 0666 node bind-mounted over /dev/net/tun, see ``TunUser``), never changing the
machine's; freight runs there as the user, with a runtime directory of the test's own, so
that the user namespace freight keeps (its pause process) is made in that mount namespace.
The network is a ``world`` (``networld``): freight's "host" namespace and an "outside" one
with an HTTP server on 203.0.113.10 and, here, a DNS server on 198.51.100.2 that the
user's resolv.conf names.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from networld import OUT_IP, OUTSIDE_IP, World
from testlib import free_port, wait_until

TYPE_CHECKING = False
if TYPE_CHECKING:  # conftest modules share one name: import it only for the type checker
    from conftest import Rootless

    from freight.store import Store

# Answers every A question with OUTSIDE_IP; prints "ready" once bound.
_DNS_SERVER = f"""
import socket, struct, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("{OUT_IP}", 53))
print("ready", flush=True)
while True:
    query, peer = sock.recvfrom(512)
    end = query.index(b"\\0", 12) + 5
    header = query[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0)
    answer = b"\\xc0\\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("{OUTSIDE_IP}")
    sock.sendto(header + query[12:end] + answer, peer)
"""


class TunUser:
    """freight as the rootless user inside ``world``'s host namespace, in a private mount
    namespace where /dev/net/tun is a 0666 node and /etc/resolv.conf names the world's DNS server."""

    def __init__(self, user: Rootless, world: World, work: Path) -> None:
        self.user = user
        self.world = world
        self.runtime = user.home / "run"
        self.runtime.mkdir(mode=0o700)
        os.chown(self.runtime, user.uid, user.gid)
        (work / "resolv.conf").write_text(f"nameserver {OUT_IP}\n")
        script = (f"mount -t tmpfs -o mode=0755 tmpfs {work}/dev && mknod -m 666 {work}/dev/tun c 10 200 && "
                  f"mount --bind {work}/dev/tun /dev/net/tun && mount --bind {work}/resolv.conf /etc/resolv.conf && "
                  'exec "$@"')
        (work / "dev").mkdir()
        self.prefix = [*world.nsenter(world.host), "unshare", "-m", "--propagation", "private", "sh", "-c", script,
                       "sh"]

    def __call__(self, *args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.user(*args, check=check, timeout=timeout, prefix=self.prefix,
                         env={"XDG_RUNTIME_DIR": str(self.runtime)})

    def slirps(self, pid: int) -> list[int]:
        """The slirp4netns processes of the user that serve the network namespace of ``pid``."""
        target = os.stat(f"/proc/{pid}/ns/net").st_ino
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if not entry.name.isdigit() or entry.stat().st_uid != self.user.uid:
                    continue
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if Path(argv[0].decode()).name == "slirp4netns" and os.stat(argv[-3]).st_ino == target:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
        return found

    def all_slirps(self) -> list[int]:
        """Every slirp4netns process of the user."""
        return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _is_slirp_of(p, self.user.uid)]

    def close(self) -> None:
        try:
            os.kill(int((self.runtime / "freight" / "userns.pid").read_text()), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass


def _is_slirp_of(proc: Path, uid: int) -> bool:
    try:
        return proc.stat().st_uid == uid and (proc / "comm").read_text().strip() == "slirp4netns"
    except OSError:
        return False


@pytest.fixture
def tun_user(rootless: Rootless, world: World, busybox_tar: Path, tmp_path: Path) -> Iterator[TunUser]:
    user = TunUser(rootless, world, tmp_path)
    try:
        user("load", "-i", str(busybox_tar), check=True)
        yield user
    finally:
        user.close()


def _dns_server(world: World) -> None:
    proc = subprocess.Popen([*world.nsenter(world.out), sys.executable, "-c", _DNS_SERVER], stdout=subprocess.PIPE)
    world.servers.append(proc)  # type: ignore[arg-type]
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"


def test_outbound_through_slirp4netns(tun_user: TunUser) -> None:
    out = tun_user("run", "--rm", "--hostname", "box", "--add-host", "gw:host-gateway", "busybox", "sh", "-c",
                   f"ip -4 -o addr show tap0; ip route; cat /etc/hosts; wget -qO- http://{OUTSIDE_IP}/hello.txt",
                   check=True).stdout
    assert "inet 10.0.2.100/24" in out and "default via 10.0.2.2 dev tap0" in out
    assert "10.0.2.2\tgw\n10.0.2.100\tbox\n" in out  # as Podman writes them
    assert out.endswith("hello from outside\n")


def test_dns_is_forwarded_to_the_hosts_resolver(tun_user: TunUser) -> None:
    _dns_server(tun_user.world)
    out = tun_user("run", "--rm", "busybox", "sh", "-c",
                   "cat /etc/resolv.conf; nslookup outside.example 10.0.2.3; wget -qO- http://outside.example/hello.txt",
                   check=True).stdout
    assert out.startswith(f"nameserver 10.0.2.3\nnameserver {OUT_IP}\n")
    assert f"Address: {OUTSIDE_IP}" in out and out.endswith("hello from outside\n")


def test_host_loopback_is_out_of_reach(tun_user: TunUser, tmp_path: Path) -> None:
    """As Podman's default: 10.0.2.2 does not lead to a server on the host's 127.0.0.1."""
    world = tun_user.world
    port = free_port()
    (tmp_path / "local.txt").write_text("local\n")
    world.serve(world.host, [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory",
                             str(tmp_path)], "127.0.0.1", port)
    out = tun_user("run", "--rm", "busybox", "sh", "-c", "printf 'GET /local.txt HTTP/1.0\\r\\n\\r\\n' | "
                   f"nc -w 2 10.0.2.2 {port}; echo exit $?", check=True).stdout
    assert out == "exit 1\n"  # refused (the same command prints the file when slirp4netns allows it)


def test_published_port_and_nothing_left_behind(tun_user: TunUser) -> None:
    port = free_port()
    cid = tun_user("run", "-d", "-p", f"127.0.0.1:{port}:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
                   check=True).stdout.strip()
    pid = _pid(tun_user, cid)
    slirps = tun_user.slirps(pid)
    assert len(slirps) == 1
    fetched = tun_user.world.run_in(tun_user.world.host, sys.executable, "-c",
                                    f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}/hostname')"
                                    ".read().decode(), end='')")
    assert fetched.stdout == cid[:12] + "\n", fetched.stderr
    outbound = tun_user("exec", cid, "wget", "-qO-", f"http://{OUTSIDE_IP}/hello.txt", check=True)
    assert outbound.stdout == "hello from outside\n"
    tun_user("rm", "-f", cid, check=True)
    assert wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in slirps))


def test_slirp4netns_goes_with_a_killed_container(tun_user: TunUser) -> None:
    cid = tun_user("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    pid = _pid(tun_user, cid)
    slirps = tun_user.slirps(pid)
    assert len(slirps) == 1
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not Path(f"/proc/{slirps[0]}").exists())
    assert json.loads(tun_user("inspect", cid, check=True).stdout)[0]["State"]["ExitCode"] == 137
    tun_user("rm", cid, check=True)


def test_slirp4netns_goes_with_a_killed_monitor(tun_user: TunUser) -> None:
    """Its exit pipe's write end is the monitor's alone: a monitor killed outright takes it along."""
    cid = tun_user("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    slirps = tun_user.slirps(_pid(tun_user, cid))
    assert len(slirps) == 1
    monitor = _parent(slirps[0])
    assert b"freight" in Path(f"/proc/{monitor}/cmdline").read_bytes()
    os.kill(monitor, signal.SIGKILL)
    assert wait_until(lambda: not Path(f"/proc/{slirps[0]}").exists())
    tun_user("rm", "-f", cid, check=True)


def _parent(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def test_slirp4netns_goes_with_run_rm(tun_user: TunUser) -> None:
    before = set(tun_user.all_slirps())
    tun_user("run", "--rm", "busybox", "true", check=True)
    time.sleep(0.2)
    assert not set(tun_user.all_slirps()) - before
    assert tun_user("ps", "-aq", check=True).stdout == ""


def test_each_restart_gets_its_network(tun_user: TunUser) -> None:
    before = set(tun_user.all_slirps())
    cid = tun_user("run", "-d", "--restart", "on-failure:2", "busybox", "sh", "-c",
                   f"wget -qO- http://{OUTSIDE_IP}/hello.txt; exit 3", check=True).stdout.strip()

    def state() -> dict[str, object]:
        record = json.loads(tun_user("inspect", cid, check=True).stdout)[0]
        return {"restarts": record["RestartCount"], **record["State"]}

    assert wait_until(lambda: (s := state())["restarts"] == 2 and not s["Running"] and not s["Restarting"],
                      timeout=30)
    assert tun_user("logs", cid, check=True).stdout == "hello from outside\n" * 3
    tun_user("rm", cid, check=True)
    assert not set(tun_user.all_slirps()) - before


def test_network_none_and_host(tun_user: TunUser) -> None:
    none = tun_user("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link", check=True).stdout
    assert [line.split(":")[1].strip() for line in none.splitlines()] == ["lo"]
    host = tun_user("run", "--rm", "--network", "host", "busybox", "ip", "-o", "-4", "addr", check=True).stdout
    assert "198.51.100.1/24" in host  # the world's host namespace, the user's own


def test_without_tun_one_line(rootless: Rootless, busybox_tar: Path) -> None:
    """On these machines /dev/net/tun is mode 0600: asked for, slirp4netns fails in one line;
    the default network is the loopback alone, with one warning."""
    mode = os.stat("/dev/net/tun").st_mode & 0o777
    assert mode == 0o600, "the machine's /dev/net/tun is expected to be out of an ordinary user's reach"
    rootless("load", "-i", str(busybox_tar), check=True)
    asked = rootless("run", "--rm", "--network", "slirp4netns", "busybox", "true")
    assert asked.returncode == 125 and asked.stderr.count("\n") == 1
    assert ("rootless networking needs /dev/net/tun readable and writable by you (it is mode 0600; an "
            "administrator can make it 0666); use --network none\n") in asked.stderr
    plain = rootless("run", "--rm", "busybox", "ip", "-o", "link")
    assert plain.returncode == 0 and [line.split(":")[1].strip() for line in plain.stdout.splitlines()] == ["lo"]
    assert plain.stderr.count("\n") == 1
    assert plain.stderr.startswith("WARNING: rootless networking needs /dev/net/tun readable and writable by you")
    assert rootless("run", "--rm", "--network", "none", "busybox", "true").stderr == ""
    assert rootless("ps", "-aq", check=True).stdout == ""


def _pid(user: TunUser, cid: str) -> int:
    return int(json.loads(user("inspect", cid, check=True).stdout)[0]["State"]["Pid"])


def test_build_run_steps_use_the_users_network(rootless: Rootless, busybox_tar: Path, tmp_path: Path) -> None:
    """As root builds use the host's: a RUN step reaches a server on the user's loopback (no
    slirp4netns, so no /dev/net/tun needed)."""
    (tmp_path / "f.txt").write_text("fetched on loopback\n")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory",
                               str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: _accepts(port))
        rootless("load", "-i", str(busybox_tar), check=True)
        ctx = rootless.home / "fetch"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM busybox\nRUN wget -qO /fetched http://127.0.0.1:{port}/f.txt\n")
        rootless.shared(ctx)
        rootless("build", "-q", "-t", "fetched", str(ctx), check=True)
    finally:
        server.kill()
        server.wait()
    assert rootless("run", "--rm", "fetched", "cat", "/fetched", check=True).stdout == "fetched on loopback\n"


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
    except OSError:
        return False
    return True


def test_root_asks_for_slirp4netns(busybox_store: Store, world: World) -> None:
    """``--network slirp4netns`` works for root too (as Podman's), with nothing left behind."""
    out = world.freight("run", "--rm", "--network", "slirp4netns", "busybox", "sh", "-c",
                        f"ip -4 -o addr show tap0; head -1 /etc/resolv.conf; wget -qO- http://{OUTSIDE_IP}/hello.txt",
                        check=True).stdout
    assert "inet 10.0.2.100/24" in out and "nameserver 10.0.2.3\n" in out and out.endswith("hello from outside\n")
    assert world.freight("ps", "-aq", check=True).stdout == "" and world.settled() == {}
