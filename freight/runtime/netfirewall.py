"""freight's nftables table: outbound NAT, published ports (DNAT), isolation, ``--internal``.

One table, ``ip freight``, derived from the store's networks and leases. Per-container
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

_CHAINS = """
  chain dnat_pre { type nat hook prerouting priority dstnat;
    meta l4proto { tcp, udp } fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports
  }
  chain dnat_out { type nat hook output priority -100;
    meta l4proto { tcp, udp } fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports
  }
  chain snat_post { type nat hook postrouting priority srcnat;
    ct status dnat ip saddr 127.0.0.0/8 masquerade
    ct status dnat ip saddr @nat_nets masquerade
    ip saddr @nat_nets oifname != @bridges masquerade
  }
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
  chain guard { type filter hook prerouting priority raw;
    iifname @bridges ip daddr 127.0.0.0/8 drop
  }
"""

Port = tuple[str, str, int, str, int]  # host ip ("" for all), proto, host port, container ip, container port


def _elements(items: list[str]) -> str:
    return f" elements = {{ {', '.join(items)} }}" if items else ""


def table(networks: list[Network], ports: list[tuple[str, Port]]) -> str:
    """The whole table, for ``nft -f`` (declared, flushed, then filled: one transaction)."""
    nat = [n.subnet for n in networks if not n.internal]
    bridges = [f'"{n.bridge}"' for n in networks]
    internal = [f'"{n.bridge}"' for n in networks if n.internal]
    same = [f'"{n.bridge}" . "{n.bridge}"' for n in networks]
    port_items = [port_element(cid, p) for cid, p in ports]
    return (f"table ip {TABLE} {{}}\nflush table ip {TABLE}\ntable ip {TABLE} {{\n"
            "  map ports { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service;"
            f" flags interval;{_elements(port_items)} }}\n"
            f"  set nat_nets {{ type ipv4_addr; flags interval;{_elements(nat)} }}\n"
            f"  set bridges {{ type ifname;{_elements(bridges)} }}\n"
            f"  set internal {{ type ifname;{_elements(internal)} }}\n"
            f"  set same_bridge {{ type ifname . ifname;{_elements(same)} }}\n"
            f"{_CHAINS}}}\n")


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
