"""freight's nftables table: outbound NAT, published ports (DNAT), isolation, ``--internal``.

One table, ``ip freight``, derived from the store's networks and leases (with ``ip6 freight``
for IPv6 networks' masquerade and isolation, and ``bridge freight`` for ``enable_icc=false``). Per-container
state is only elements of the ``ports`` map (one per published port, commented with the
container ID), so a container without published ports changes no firewall state: a
deletion costs the kernel an RCU grace period (10-20 ms), whichever tool does it.

Bridge netfilter may be on (it is on many hosts): traffic between two containers on the
same bridge then crosses the IP forward hook with the bridge as both interfaces, hence
the ``same_bridge`` accept before the isolation rule.
"""

from __future__ import annotations

from freight.runtime.ipam import Network
from freight.runtime.netbridge import entered
from freight.runtime.nettools import run_tool

TABLE = "freight"
_ALL = "0.0.0.0-255.255.255.255"

# Isolation, the same for IPv4 and IPv6 (``ip6 freight``).
_FORWARD = """
  chain forward { type filter hook forward priority filter; policy accept;
    iifname @internal oifname != @internal drop
    oifname @internal iifname != @internal drop
    ct state established,related accept
    iifname . oifname @same_bridge accept
    oifname @bridges ct status dnat accept
    iifname @bridges oifname @bridges drop
    iifname @bridges accept
    oifname @bridges drop
  }
"""

_CHAINS = _FORWARD + """
  chain dnat_pre { type nat hook prerouting priority dstnat;
    meta l4proto { tcp, udp } fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports
  }
  chain dnat_out { type nat hook output priority -100;
    meta l4proto { tcp, udp } fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports
  }
  chain snat_post { type nat hook postrouting priority srcnat;
    ct status dnat ip saddr 127.0.0.0/8 masquerade
    ct status dnat ip saddr @nat_nets masquerade
    ip saddr @masq_nets oifname != @bridges masquerade
  }
  chain guard { type filter hook prerouting priority raw;
    iifname @bridges ip daddr 127.0.0.0/8 drop
  }
"""

# IPv6: outbound masquerade and the same isolation (published ports are relayed by the proxy).
_CHAINS6 = _FORWARD + """
  chain snat_post { type nat hook postrouting priority srcnat;
    ip6 saddr @masq_nets oifname != @bridges masquerade
  }
"""

# enable_icc=false: no IP packet crosses such a network's bridge from one container to another
# (whether bridge netfilter is on or not); frames between two ports of one bridge stay in its subnet.
_CHAINS_BRIDGE = """
  chain forward { type filter hook forward priority filter; policy accept;
    ip saddr @no_icc ip daddr @no_icc drop
    ip6 saddr @no_icc6 ip6 daddr @no_icc6 drop
  }
"""

Port = tuple[str, str, int, str, int]  # host ip ("" for all), proto, host port, container ip, container port


def _elements(items: list[str]) -> str:
    return f" elements = {{ {', '.join(items)} }}" if items else ""


def table(networks: list[Network], ports: list[tuple[str, Port]]) -> str:
    """The whole table, for ``nft -f`` (declared, flushed, then filled: one transaction)."""
    nat = [n.subnet for n in networks if not n.internal]
    masq = [n.subnet for n in networks if n.masquerade]
    masq6 = [n.subnet6 for n in networks if n.masquerade and n.subnet6]
    no_icc = [n.subnet for n in networks if not n.icc]
    no_icc6 = [n.subnet6 for n in networks if not n.icc and n.subnet6]
    port_items = [port_element(cid, p) for cid, p in ports]
    return (_declared("ip") + "  map ports { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service;"
            f" flags interval;{_elements(port_items)} }}\n"
            f"  set nat_nets {{ type ipv4_addr; flags interval;{_elements(nat)} }}\n"
            f"  set masq_nets {{ type ipv4_addr; flags interval;{_elements(masq)} }}\n"
            f"{_interface_sets(networks)}{_CHAINS}}}\n"
            + _declared("ip6") + f"  set masq_nets {{ type ipv6_addr; flags interval;{_elements(masq6)} }}\n"
            f"{_interface_sets(networks)}{_CHAINS6}}}\n"
            + _declared("bridge") + f"  set no_icc {{ type ipv4_addr; flags interval;{_elements(no_icc)} }}\n"
            f"  set no_icc6 {{ type ipv6_addr; flags interval;{_elements(no_icc6)} }}\n{_CHAINS_BRIDGE}}}\n")


def _declared(family: str) -> str:
    """The table made if missing, emptied, and opened for its new contents."""
    return f"table {family} {TABLE} {{}}\nflush table {family} {TABLE}\ntable {family} {TABLE} {{\n"


def _interface_sets(networks: list[Network]) -> str:
    bridges = [f'"{n.bridge}"' for n in networks]
    internal = [f'"{n.bridge}"' for n in networks if n.internal]
    same = [f'"{n.bridge}" . "{n.bridge}"' for n in networks if n.icc]
    return (f"  set bridges {{ type ifname;{_elements(bridges)} }}\n"
            f"  set internal {{ type ifname;{_elements(internal)} }}\n"
            f"  set same_bridge {{ type ifname . ifname;{_elements(same)} }}\n")


def port_key(port: Port) -> str:
    host_ip, proto, host_port, _, _ = port
    return f"{host_ip if host_ip not in ('', '0.0.0.0') else _ALL} . {proto} . {host_port}"


def port_element(container_id: str, port: Port) -> str:
    return f'{port_key(port)} comment "{container_id}" : {port[3]} . {port[4]}'


def load(networks: list[Network], ports: list[tuple[str, Port]]) -> None:
    run_tool(["nft", "-f", "-"], table(networks, ports))


def add_ports(container_id: str, ports: list[Port], netns: int | None = None) -> None:
    items = ", ".join(port_element(container_id, p) for p in ports)
    run_tool(["nft", "-f", "-"], f"add element ip {TABLE} ports {{ {items} }}\n", netns=netns)


def delete_ports(ports: list[Port]) -> None:
    items = ", ".join(port_key(p) for p in ports)
    run_tool(["nft", "-f", "-"], f"delete element ip {TABLE} ports {{ {items} }}\n", check=False)


EMBEDDED_DNS = "127.0.0.11"


def embedded_dns(netns: int, interface: str, gateway: str, address: str) -> None:
    """Docker's resolver address inside a container on a user-defined network: 127.0.0.11:53
    is forwarded to the network's DNS server (aardvark-dns on the gateway), with the
    container's address as source on the way out (``route_localnet`` lets 127/8 leave)."""
    table = (f"table ip freight_dns {{\n"
             f"  chain output {{ type nat hook output priority -100;\n"
             f"    ip daddr {EMBEDDED_DNS} meta l4proto {{ tcp, udp }} th dport 53 dnat to {gateway}:53\n  }}\n"
             f"  chain postrouting {{ type nat hook postrouting priority srcnat;\n"
             f"    ip saddr 127.0.0.0/8 ip daddr {gateway} th dport 53 snat to {address}\n  }}\n}}\n")
    run_tool(["nft", "-f", "-"], table, netns=netns)
    with entered(netns), open(f"/proc/sys/net/ipv4/conf/{interface}/route_localnet", "w") as f:
        f.write("1")


def listed() -> str:
    """The table as nft prints it ('' when there is none): for leftover checks."""
    return run_tool(["nft", "list", "table", "ip", TABLE], check=False)
