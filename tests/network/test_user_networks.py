"""User-defined networks: names by DNS (aardvark-dns), isolation, --internal, container:NAME,
--ip and the hosts files (tests run in namespaces of their own: ``networld``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from networld import OUTSIDE_IP, World
from testlib import FREIGHT, freight_env

from freight.store import Store

SERVE = "mkdir /www && echo hi from $(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def _get(world: World, *flags_and_url: str) -> str:
    """``wget URL`` from a new container (``--init``: busybox's timeout signals its parent, which
    as PID 1 would ignore SIGTERM)."""
    *flags, url = flags_and_url
    result = world.freight("run", "--rm", "--init", *flags, "busybox", "timeout", "5", "wget", "-q", "-O", "-", url)
    return result.stdout if result.returncode == 0 else f"failed: {result.stdout}{result.stderr}"


def test_containers_reach_each_other_by_name_alias_and_short_id(busybox_store: Store, world: World) -> None:
    world.freight("network", "create", "app", check=True)
    cid = world.freight("run", "-d", "--name", "web", "--hostname", "web", "--network", "app",
                        "--network-alias", "site", "busybox", "sh", "-c", SERVE, check=True).stdout.strip()
    for host in ("web", "site", cid[:12]):
        assert _get(world, "--network", "app", f"http://{host}/") == "hi from web\n", host
    world.freight("network", "create", "other", check=True)
    assert _get(world, "--network", "other", "http://web/").startswith("failed")
    address = json.loads(world.freight("inspect", "web", check=True).stdout)[0]["NetworkSettings"]["Networks"][
        "app"]["IPAddress"]
    assert _get(world, "--network", "other", f"http://{address}/").startswith("failed")  # isolated networks
    assert _get(world, "--network", "app", f"http://{OUTSIDE_IP}/hello.txt") == "hello from outside\n"
    world.freight("stop", "-t", "0", "web", check=True)
    assert _get(world, "--network", "app", "http://web/").startswith("failed")
    world.freight("rm", "web", check=True)
    assert world.settled() == {}


def test_an_internal_network_reaches_nothing_outside(busybox_store: Store, world: World) -> None:
    world.freight("network", "create", "--internal", "closed", check=True)
    world.freight("run", "-d", "--name", "web", "--hostname", "web", "--network", "closed", "busybox", "sh", "-c",
                  SERVE, check=True)
    assert _get(world, "--network", "closed", "http://web/") == "hi from web\n"
    assert _get(world, "--network", "closed", f"http://{OUTSIDE_IP}/hello.txt").startswith("failed")
    route = world.freight("run", "--rm", "--network", "closed", "busybox", "ip", "route", check=True).stdout
    assert "default" not in route
    world.freight("rm", "-f", "web", check=True)
    assert world.settled() == {}


def test_network_container_shares_the_namespace(busybox_store: Store, world: World) -> None:
    world.freight("run", "-d", "--name", "first", "busybox", "sleep", "60", check=True)
    mine = world.freight("exec", "first", "readlink", "/proc/self/ns/net", check=True).stdout
    joined = world.freight("run", "--rm", "--network", "container:first", "busybox", "readlink",
                           "/proc/self/ns/net", check=True).stdout
    assert joined == mine
    world.freight("rm", "-f", "first", check=True)
    assert world.settled() == {}


def test_static_address_and_resolv_conf(busybox_store: Store, world: World) -> None:
    world.freight("network", "create", "--subnet", "10.123.0.0/24", "fixed", check=True)
    out = world.freight("run", "--rm", "--network", "fixed", "--ip", "10.123.0.42", "--dns-search", "ex.com",
                        "busybox", "sh", "-c", "ip -o -4 addr show eth0; cat /etc/resolv.conf", check=True).stdout
    assert "inet 10.123.0.42/24" in out
    assert out.endswith("search ex.com\nnameserver 127.0.0.11\noptions ndots:0\n")
    assert world.settled() == {}


def test_unknown_names_go_to_the_containers_dns_servers(busybox_store: Store, world: World) -> None:
    """As Docker's embedded DNS: 127.0.0.11 answers the network's names itself and forwards the
    others to the container's --dns servers (here one in the outside world)."""
    server = world.dns_server({"db.example.test": "203.0.113.77"})
    world.freight("network", "create", "app", check=True)
    world.freight("run", "-d", "--name", "web", "--network", "app", "busybox", "sleep", "60", check=True)
    out = world.freight("run", "--rm", "--network", "app", "--dns", server, "busybox", "sh", "-c",
                        "cat /etc/resolv.conf; nslookup -type=a db.example.test; nslookup -type=a web",
                        check=True).stdout
    assert "nameserver 127.0.0.11\n" in out and server not in out.partition("Server")[0]
    assert "Address: 203.0.113.77" in out
    assert "Address: 10.78." in out  # web, answered by the network's own DNS
    missing = world.freight("run", "--rm", "--network", "app", "--dns", server, "busybox", "nslookup", "-type=a",
                            "nope.example.test")
    assert missing.returncode != 0 and "NXDOMAIN" in missing.stdout + missing.stderr
    bad = world.freight("run", "--rm", "--network", "app", "--dns", "dns.example", "busybox", "true")
    assert (bad.returncode, bad.stderr.splitlines()[0]) == (
        125, 'freight: invalid argument "dns.example" for "--dns" flag: dns.example is not an ip address')
    world.freight("rm", "-f", "web", check=True)
    assert world.settled() == {}


def test_without_dns_servers_unknown_names_go_to_the_hosts_resolvers(busybox_store: Store, world: World,
                                                                      tmp_path: Path) -> None:
    """The network's DNS server (started here in a mount namespace whose /etc/resolv.conf names
    a server in the outside world) forwards names it does not know to the host's resolvers."""
    server = world.dns_server({"db.example.test": "203.0.113.78"})
    (tmp_path / "resolv.conf").write_text(f"nameserver {server}\n")
    script = (f"mount --bind {tmp_path / 'resolv.conf'} /etc/resolv.conf && exec {FREIGHT} \"$@\"")

    def freight(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*world.nsenter(world.host), "unshare", "--mount", "sh", "-c", script, "sh", *args],
                              capture_output=True, text=True, timeout=60, env=freight_env(world.root))

    assert freight("network", "create", "app").returncode == 0
    out = freight("run", "--rm", "--network", "app", "busybox", "nslookup", "-type=a", "db.example.test")
    assert out.returncode == 0 and "Address: 203.0.113.78" in out.stdout, out.stdout + out.stderr
    assert world.settled() == {}
