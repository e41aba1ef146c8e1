"""Bridges, network namespaces and veth pairs, through iproute2 (``ip -batch``).

A container's network namespace is made here, by the supervisor, before the
container's process is forked into it (``new_namespace``, ``entered``): so it can be
wired before the process exists, and it lives exactly as long as someone holds it
(the supervisor's descriptor, the container's processes). Its veth is never deleted
explicitly: the kernel removes it with the namespace.

Whether a bridge exists is asked with ``if_nametoindex`` (never /sys/class/net, which
shows the namespace sysfs was mounted in, not ours).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from freight.runtime import syscalls as sc
from freight.runtime.ipam import Endpoint, Network, prefix6
from freight.runtime.nettools import run_tool


def exists(interface: str) -> bool:
    try:
        socket.if_nametoindex(interface)
    except OSError:
        return False
    return True


def host_routes(skip: Collection[str] = ()) -> list[str]:
    """The subnets the host routes to (not default routes, not through ``skip`` interfaces)."""
    routes = []
    try:
        with open("/proc/net/route") as f:
            next(f, None)  # the header (none at all in a namespace with no interface up)
            for line in f:
                iface, dest, _, _, _, _, _, mask, *_ = line.split()
                if iface in skip or mask == "00000000":
                    continue
                d, m = int(dest, 16).to_bytes(4, "little"), int(mask, 16).to_bytes(4, "little")
                prefix = bin(int.from_bytes(m, "big")).count("1")
                routes.append(".".join(str(b) for b in d) + f"/{prefix}")
    except OSError:
        pass
    return routes


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _mtu(network: Network) -> str:
    return f" mtu {network.mtu}" if network.mtu else ""


def make_bridge(network: Network) -> None:
    """The network's bridge with its gateway address(es), forwarding on (the uplink too, as Docker
    sets ip_forward), 127.0.0.1 routable for published ports (``netfirewall`` guards it)."""
    run_tool(["ip", "link", "add", "name", network.bridge, *_mtu(network).split(), "type", "bridge"])
    batch = f"addr add {network.gateway}/{network.prefix} dev {network.bridge}\n"
    if network.subnet6:  # the host may have IPv6 off by default
        _write(f"/proc/sys/net/ipv6/conf/{network.bridge}/disable_ipv6", "0")
        batch += f"addr add {network.gateway6}/{prefix6(network)} dev {network.bridge} nodad\n"
    run_tool(["ip", "-batch", "-"], batch + f"link set {network.bridge} up\n")
    _write(f"/proc/sys/net/ipv4/conf/{network.bridge}/route_localnet", "1")
    if not network.internal:
        _enable("ipv4/ip_forward")
        if network.subnet6:
            _enable("ipv6/conf/all/forwarding")


def _read_sysctl(name: str) -> str:
    with open(f"/proc/sys/net/{name}") as f:
        return f.read().strip()


def _enable(name: str) -> None:
    if _read_sysctl(name) != "1":
        _write(f"/proc/sys/net/{name}", "1")


def remove_bridge(network: Network) -> None:
    if exists(network.bridge):
        run_tool(["ip", "link", "del", network.bridge], check=False)


def new_namespace() -> int:
    """A new network namespace (``lo`` still down), held by the returned descriptor; our thread
    stays in its own."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.unshare(sc.CLONE_NEWNET)
        try:
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            sc.setns(home, sc.CLONE_NEWNET)
    finally:
        os.close(home)
    return fd


@contextmanager
def entered(netns: int) -> Iterator[int]:
    """Our thread inside ``netns`` (what it forks is born there), then back home; yields the
    home namespace's descriptor."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(netns, sc.CLONE_NEWNET)
        try:
            yield home
        finally:
            sc.setns(home, sc.CLONE_NEWNET)
    finally:
        os.close(home)


def plug(netns: int, network: Network, endpoint: Endpoint, interface: str, hairpin: bool,
         first: bool, host_netns: int | None = None) -> None:
    """A veth from ``network``'s bridge to ``interface`` in ``netns``, with the endpoint's
    address and MAC (and, ``first``, ``lo`` up and the default route); ``host_netns`` is the
    bridge's namespace when it is not the calling thread's."""
    fd_path = f"/proc/{os.getpid()}/fd/{netns}"
    mtu = _mtu(network)
    host = (f"link add name {endpoint.veth}{mtu} type veth peer name {interface}{mtu} address {endpoint.mac} "
            f"netns {fd_path}\n"
            f"link set {endpoint.veth} master {network.bridge} up\n")
    if hairpin:  # a container reaching its own published port through the host
        host += f"link set {endpoint.veth} type bridge_slave hairpin on\n"
    run_tool(["ip", "-batch", "-"], host, netns=host_netns)
    inside = "link set lo up\n" if first else ""
    inside += f"addr add {endpoint.address}/{network.prefix} dev {interface}\n"
    if endpoint.address6:
        inside += f"addr add {endpoint.address6}/{prefix6(network)} dev {interface} nodad\n"
    inside += f"link set {interface} up\n"
    if first and not network.internal:
        inside += f"route add default via {network.gateway}\n"
        if endpoint.address6:
            inside += f"route add default via {network.gateway6}\n"
    run_tool(["ip", "-batch", "-"], inside, netns=netns)


def unplug(veth: str) -> None:
    """Remove a veth now (``network disconnect`` of a running container)."""
    if exists(veth):
        run_tool(["ip", "link", "del", veth], check=False)


def freight_links() -> list[str]:
    """freight's veths in this namespace (``frt`` and hex, no dash: bridges have one)."""
    return sorted(name for _, name in socket.if_nameindex() if name.startswith("frt") and "-" not in name)
