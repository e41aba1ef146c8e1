"""--add-host (host-gateway too), --dns, --dns-search, --dns-option, --hostname and --mac-address
in the container's /etc/hosts, /etc/resolv.conf and interface, as Docker writes them (the
expected texts are what Docker's daemon wrote for the same flags)."""

from __future__ import annotations

from networld import World

from freight.store import Store

DEFAULT_HOSTS = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
                 "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")


def _cat(world: World, *flags: str) -> str:
    return world.freight("run", "--rm", *flags, "busybox", "sh", "-c",
                         "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; cat /etc/hostname; "
                         "ip -o -4 addr show eth0 2>/dev/null | awk '{print $4}'", check=True).stdout


def test_user_network_with_every_flag(busybox_store: Store, world: World) -> None:
    world.freight("network", "create", "--subnet", "10.124.0.0/24", "app", check=True)
    out = _cat(world, "--network", "app", "--hostname", "web", "--add-host", "a.b:1.2.3.4",
               "--add-host", "gw:host-gateway", "--dns", "9.9.9.9", "--dns-search", "ex.com",
               "--dns-option", "ndots:2", "--network-alias", "al")
    resolv, hosts, rest = out.split("---\n")
    assert resolv == "search ex.com\nnameserver 127.0.0.11\noptions ndots:2\n"
    assert hosts == DEFAULT_HOSTS + "1.2.3.4\ta.b\n10.124.0.1\tgw\n10.124.0.2\tweb\n"
    assert rest == "web\n10.124.0.2/24\n"


def test_default_bridge_and_none(busybox_store: Store, world: World) -> None:
    out = _cat(world, "--hostname", "web", "--dns", "9.9.9.9", "--dns-search", "ex.com", "--dns-option", "ndots:2",
               "--add-host", "gw:host-gateway")
    resolv, hosts, rest = out.split("---\n")
    assert resolv == "search ex.com\nnameserver 9.9.9.9\noptions ndots:2\n"
    assert hosts == DEFAULT_HOSTS + "10.77.0.1\tgw\n10.77.0.2\tweb\n"
    assert rest == "web\n10.77.0.2/16\n"
    none = _cat(world, "--network", "none", "--add-host", "x:1.1.1.1", "--dns", "9.9.9.9")
    resolv, hosts, rest = none.split("---\n")
    assert resolv == "nameserver 9.9.9.9\n" and hosts == DEFAULT_HOSTS + "1.1.1.1\tx\n"


def test_mac_address(busybox_store: Store, world: World) -> None:
    out = world.freight("run", "--name", "box", "--mac-address", "92:d0:c6:0a:29:33", "busybox", "cat",
                        "/sys/class/net/eth0/address", check=True).stdout
    assert out == "92:d0:c6:0a:29:33\n"
    assert world.freight("start", "-a", "box", check=True).stdout == out  # kept for the next start
    world.freight("rm", "box", check=True)


def test_flags_docker_refuses(busybox_store: Store, world: World) -> None:
    alias = world.freight("run", "--rm", "--network-alias", "x", "busybox", "true")
    assert (alias.returncode, alias.stderr) == (
        125, "Error: network-scoped aliases are only supported for user-defined networks\n")
    missing = world.freight("run", "--rm", "--network", "nope", "busybox", "true")
    assert (missing.returncode, missing.stderr) == (125, "Error response from daemon: network nope not found\n")
    bad = world.freight("run", "--rm", "--add-host", "bad", "busybox", "true")
    assert bad.returncode == 125 and 'bad format for add-host: "bad"' in bad.stderr
    world.freight("run", "-d", "--name", "first", "busybox", "sleep", "60", check=True)
    ported = world.freight("run", "--rm", "--network", "container:first", "-p", "80", "busybox", "true")
    assert (ported.returncode, ported.stderr) == (
        125, "Error: conflicting options: port publishing and the container type network mode\n")
    world.freight("rm", "-f", "first", check=True)
    assert world.freight("ps", "-aq", check=True).stdout == ""
    assert world.settled() == {}
