"""``docker network``: create, list, inspect, remove, prune, connect and disconnect networks.

A user-defined network is a row in the store (``ipam``), a bridge of its own (made at
once, and again whenever a container needs it and it is missing, e.g. after a reboot)
and its members in freight's firewall table. ``host`` and ``none`` are listed as Docker
lists them; ``bridge`` is the default network.
"""

from __future__ import annotations

import hashlib
import os

from freight.errors import Conflict, Forbidden, FreightError, InvalidArgument, NotFound
from freight.record import Record, field
from freight.runtime import ipam, netbridge, netdns, netfirewall
from freight.runtime.ipam import Network
from freight.runtime.netsandbox import endpoint_settings, ensure_bridge, ports, reconcile
from freight.runtime.records import Container, from_row, save_state
from freight.store.prune import prune_filters_take

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from freight.store import Store

BUILTIN = {"host": "host", "none": "null"}  # name -> driver


class NetworkError(FreightError):
    """Docker answers network errors with exit status 1."""

    exit_code = 1


class NetworkNotFound(NetworkError, NotFound):
    """No such network (the API answers 404: clients create what they do not find)."""


class NetworkForbidden(NetworkError, Forbidden):
    """A predefined network, one in use, an overlapping pool (the API answers 403)."""


class NetworkInvalid(NetworkError, InvalidArgument):
    """A subnet, gateway or option the network cannot have (the API answers 400)."""


class NetworkConflict(NetworkError, Conflict):
    """A name already taken (the API answers 409)."""


def _as_network_error(err: FreightError) -> NetworkError:
    """The same failure with Docker's network exit status, keeping its kind (its HTTP status)."""
    for kind, base in ((NetworkForbidden, Forbidden), (NetworkInvalid, InvalidArgument),
                       (NetworkConflict, Conflict), (NetworkNotFound, NotFound)):
        if isinstance(err, base):
            return kind(str(err))
    return err if isinstance(err, NetworkError) else NetworkError(str(err))


def _builtin_id(store: Store, name: str) -> str:
    return hashlib.sha256(f"{store.root_path}\0{name}".encode()).hexdigest()


def _sync_firewall(store: Store) -> None:
    db = store.db
    netfirewall.load(ipam.networks(db), ports(db))


class Spec(Record):
    """What ``network create`` asks for (the CLI's flags, the API's body)."""

    name: str
    driver: str = "bridge"
    pools: list[tuple[str, str]] = field(default_factory=list)  # (subnet, gateway), IPv4 and IPv6
    internal: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    attachable: bool = False
    ipv6: bool = False


def _pools(spec: Spec) -> tuple[str | None, str | None, str, str]:
    """The IPv4 subnet and gateway (None: chosen), and the IPv6 ones ("" without ``--ipv6``)."""
    v4 = [(s, g) for s, g in spec.pools if ":" not in s]
    v6 = [(s, g) for s, g in spec.pools if ":" in s]
    if any(g and not s for s, g in spec.pools):
        raise NetworkInvalid("every ip-range or gateway must have a corresponding subnet")
    if spec.ipv6 and not v6:
        raise NetworkInvalid("an IPv6 network needs its IPv6 subnet: add --subnet with an IPv6 prefix "
                             "(e.g. fd00:1::/64)")
    if len(v4) > 1 or len(v6) > 1:
        raise NetworkInvalid("freight's bridge networks take one IPv4 and one IPv6 subnet")
    subnet, gateway = v4[0] if v4 else (None, None)
    subnet6, gateway6 = v6[0] if v6 and spec.ipv6 else ("", "")
    return subnet, gateway or None, subnet6, gateway6


def create(store: Store, spec: Spec) -> Network:
    if spec.name in BUILTIN:
        raise NetworkForbidden(f"operation is not permitted on predefined {spec.name} network")
    if spec.driver != "bridge":
        raise NetworkNotFound(f'plugin "{spec.driver}" not found')
    subnet, gateway, subnet6, gateway6 = _pools(spec)
    named = spec.options.get(ipam.BRIDGE_NAME)
    if named and netbridge.exists(named):  # never adopted: removing the network would delete it
        raise NetworkForbidden(f"bridge name {named} is taken: an interface of that name exists")
    db = store.db
    if spec.name != ipam.DEFAULT_NAME:
        ipam.default_network(db, netbridge.host_routes(skip={ipam.DEFAULT_BRIDGE}))
    bridges = {n.bridge for n in ipam.networks(db)}
    try:
        ipam.check_options(spec.options)
        network = ipam.add_network(db, spec.name, subnet, gateway, spec.internal, spec.labels,
                                   netbridge.host_routes(bridges), spec.options.get(ipam.BRIDGE_NAME), spec.options,
                                   spec.attachable, subnet6, gateway6)
    except FreightError as err:
        raise _as_network_error(err) from None
    try:
        netbridge.make_bridge(network)
        _sync_firewall(store)
    except BaseException:
        netbridge.remove_bridge(network)
        ipam.remove_network(db, network)
        raise
    return network


def lookup(store: Store, ref: str) -> Network:
    try:
        return ipam.lookup(store.db, ref)
    except NotFound as err:
        raise NetworkNotFound(str(err)) from None


FILTER_KEYS = ("name", "id", "driver", "label", "scope", "type", "dangling")


def listing(store: Store, filters: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every network as ``inspect`` shows it (the builtin ones included) that ``filters``
    (``docker network ls``'s, one value a key) select, sorted by name."""
    reconcile(store)
    db = store.db
    ipam.default_network(db, netbridge.host_routes(skip={ipam.DEFAULT_BRIDGE}))
    found = [inspect(store, n) for n in ipam.networks(db)]
    created = found[0]["Created"] if found else ""
    for name, driver in BUILTIN.items():
        found.append(_inspect_shape(name, _builtin_id(store, name), created, driver, None, False, {}, {}, {}))
    return sorted((n for n in found if _matches(n, filters or {})), key=lambda n: n["Name"])


def find(store: Store, ref: str) -> dict[str, Any]:
    """The network ``ref`` (a name, builtin ones included, or an ID or its prefix) as ``inspect`` shows it."""
    named = [n for n in listing(store) if n["Name"] == ref]
    return named[0] if named else inspect(store, lookup(store, ref))


def _matches(n: dict[str, Any], filters: Mapping[str, str]) -> bool:
    for key, value in filters.items():
        if key == "name" and value not in n["Name"]:
            return False
        if key == "id" and not n["Id"].startswith(value):
            return False
        if key == "driver" and n["Driver"] != value:
            return False
        if key == "scope" and n["Scope"] != value:
            return False
        if key == "type" and (value == "custom") != (n["Name"] not in ("bridge", "host", "none")):
            return False
        if key == "label":
            name, sep, wanted = value.partition("=")
            if name not in n["Labels"] or (sep and n["Labels"][name] != wanted):
                return False
        if key == "dangling" and (value.lower() in ("true", "1")) != (not n["Containers"]):
            return False
    return True


def _inspect_shape(name: str, nid: str, created: str, driver: str, ipam_config: list[dict[str, str]] | None,
                   internal: bool, containers: dict[str, Any], options: dict[str, str],
                   labels: dict[str, str], attachable: bool = False) -> dict[str, Any]:
    return {
        "Name": name, "Id": nid, "Created": created, "Scope": "local", "Driver": driver,
        "EnableIPv6": any(":" in c["Subnet"] for c in ipam_config or []),
        "IPAM": {"Driver": "default", "Options": None if ipam_config is None else {},
                 "Config": ipam_config or None if ipam_config is None else ipam_config},
        "Internal": internal, "Attachable": attachable, "Ingress": False, "ConfigFrom": {"Network": ""},
        "ConfigOnly": False, "Containers": containers, "Options": dict(sorted(options.items())),  # Go's map order
        "Labels": dict(sorted(labels.items())),
    }


def inspect(store: Store, network: Network) -> dict[str, Any]:
    members = {}
    for e in ipam.endpoints(store.db, network.id):
        row = store.db.execute("SELECT name FROM containers WHERE id = ?", (e.container_id,)).fetchone()
        members[e.container_id] = {"Name": row[0] if row else e.names[0], "EndpointID": e.container_id[:32] * 2,
                                   "MacAddress": e.mac, "IPv4Address": f"{e.address}/{network.prefix}",
                                   "IPv6Address": f"{e.address6}/{ipam.prefix6(network)}" if e.address6 else ""}
    options = dict(network.options)
    if network.name == ipam.DEFAULT_NAME:
        options = {"com.docker.network.bridge.default_bridge": "true",
                   "com.docker.network.bridge.name": network.bridge, **options}
    pools = [{"Subnet": network.subnet, "Gateway": network.gateway}]
    if network.subnet6:
        pools.append({"Subnet": network.subnet6, "Gateway": network.gateway6})
    return _inspect_shape(network.name, network.id, network.created, network.driver, pools, network.internal,
                          members, options, network.labels, network.attachable)


def remove(store: Store, ref: str) -> None:
    builtin = [name for name in BUILTIN if ref == name or len(ref) >= 12 and _builtin_id(store, name).startswith(ref)]
    if ref == ipam.DEFAULT_NAME or builtin:
        raise NetworkForbidden(f"{(builtin or [ref])[0]} is a pre-defined network and cannot be removed")
    reconcile(store)
    network = lookup(store, ref)
    if network.name == ipam.DEFAULT_NAME:
        raise NetworkForbidden(f"{network.name} is a pre-defined network and cannot be removed")
    if ipam.endpoints(store.db, network.id):
        raise NetworkForbidden(f"error while removing network: network {network.name} id {network.id} "
                               "has active endpoints")
    ipam.remove_network(store.db, network)
    netbridge.remove_bridge(network)
    _sync_firewall(store)


PRUNE_FILTERS = ("until", "label", "label!")


def prune(store: Store, filters: Mapping[str, list[str]] | None = None) -> list[str]:
    """Remove the user-defined networks no running container uses that ``filters`` take
    (``until``, ``label``, ``label!``, as ``runtime.prune.parse_filter_lists`` gives them);
    their names."""
    reconcile(store)
    removed = []
    for network in ipam.networks(store.db):
        if network.name == ipam.DEFAULT_NAME or not prune_filters_take(network.created, network.labels, filters or {}):
            continue
        if not ipam.endpoints(store.db, network.id):
            remove(store, network.id)
            removed.append(network.name)
    return removed


def _container(store: Store, ref: str) -> Container:
    rows = store.db.execute("SELECT * FROM containers WHERE id = ? OR name = ? OR id LIKE ?",
                            (ref, ref.lstrip("/"), ref + "%")).fetchall()
    if len(rows) != 1:
        raise NetworkNotFound(f"No such container: {ref}")
    return from_row(rows[0])


def connect(store: Store, net_ref: str, container_ref: str, aliases: list[str], address: str = "",
            address6: str = "") -> None:
    """Connect a container: recorded for its next start; a running one gets an interface now."""
    network = lookup(store, net_ref)
    c = _container(store, container_ref)
    mode = c.host_config.get("NetworkMode") or "default"
    if mode in ("host", "none") or mode.startswith("container:"):
        raise NetworkInvalid("container cannot be disconnected from host network or connected to host network"
                             if mode == "host" else "container sharing network namespace with another container "
                             "or host cannot be connected to any other network")
    ns = c.record.setdefault("NetworkSettings", {})
    networks = ns.setdefault("Networks", {})
    implicit = ipam.DEFAULT_NAME if mode == "default" else mode
    if not networks and network.name != implicit:  # none listed is the mode's own (``wanted_networks``)
        networks[implicit] = {}
    if network.name in networks:
        raise NetworkForbidden(f"endpoint with name {c.name} already exists in network {network.name}")
    wanted = {k: v for k, v in (("IPv4Address", address), ("IPv6Address", address6)) if v}
    settings = {"Aliases": aliases or None, "IPAMConfig": wanted or None}
    entry = endpoint_settings(network, None, settings)
    if c.running:
        entry = _plug_running(store, c, network, settings, len(networks))
    networks[network.name] = entry
    save_state(store, c, record=True)


def _plug_running(store: Store, c: Container, network: Network, settings: dict[str, Any],
                  index: int) -> dict[str, Any]:
    if not netbridge.exists(network.bridge):
        ensure_bridge(store, network)
    names = [c.name, *(settings.get("Aliases") or []), c.id[:12]]
    wanted = settings.get("IPAMConfig") or {}
    owner = (int(c.state.get("MonitorPid") or 0), str(c.state.get("MonitorStartTime") or ""))
    endpoint = ipam.allocate(store.db, network, c.id, f"frt{c.id[:11]}{index}", names,
                             wanted.get("IPv4Address") or "", owner, wanted6=wanted.get("IPv6Address") or "")
    fd = os.open(f"/proc/{c.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        netbridge.plug(fd, network, endpoint, f"eth{index}", hairpin=False, first=False)
    except BaseException:
        ipam.release_one(store.db, network.id, c.id)
        raise
    finally:
        os.close(fd)
    if network.dns:
        netdns.sync(store.root_path, store.db)
    return endpoint_settings(network, endpoint, settings)


def disconnect(store: Store, net_ref: str, container_ref: str, force: bool = False) -> None:
    network = lookup(store, net_ref)
    c = _container(store, container_ref)
    networks = (c.record.get("NetworkSettings") or {}).get("Networks") or {}
    if network.name not in networks:
        raise NetworkError(f"container {c.id} is not connected to network {network.name}")
    for e in ipam.endpoints(store.db, network.id):
        if e.container_id == c.id:
            netbridge.unplug(e.veth)
            ipam.release_one(store.db, network.id, c.id)
            if network.dns:
                netdns.sync(store.root_path, store.db)
    del networks[network.name]
    save_state(store, c, record=True)

