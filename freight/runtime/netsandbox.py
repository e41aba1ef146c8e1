"""A container's network: its namespace, leases, veths, DNS names and hosts files.

``open_sandbox`` runs in the supervisor before the container's process is forked
(``netbridge.entered`` puts the fork inside the namespace); ``close_sandbox`` after it
exited. The store's leases are the truth; the firewall's port elements and the DNS
files are derived from them, so a supervisor killed outright (its container dies with
it, and the kernel drops the namespace and veths) leaves only rows that ``reconcile``,
run by the next container start, ``network`` command or ``system prune``, removes with
what was derived from them.
"""

from __future__ import annotations

import fcntl
import json
import os

from freight.errors import Conflict, FreightError, InvalidArgument, NotFound
from freight.pids import alive
from freight.record import Record, field
from freight.runtime import ipam, netbridge, netdns, netfirewall, slirp
from freight.runtime.hostfiles import resolver_of, write_hosts, write_resolv_conf
from freight.runtime.ipam import Endpoint, Network
from freight.runtime.network import SLIRP
from freight.runtime.runtimes import has_own_network
from freight.settings import rootless

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.runtime.ports import PortBinding
    from freight.runtime.records import Container
    from freight.store import Store

PLAIN_MODES = ("host", "none")


class Sandbox(Record, frozen=False):
    """A network namespace held for a container (``fd``), with what was leased for it."""

    fd: int
    container_id: str
    networks: list[Network] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    ports: list[netfirewall.Port] = field(default_factory=list)
    dns: bool = False
    slirp4netns: slirp.Slirp | None = None


def wanted_networks(c: Container) -> dict[str, dict[str, Any]]:
    """Network name -> endpoint settings (Aliases, IPAMConfig) the container is connected to."""
    mode = c.host_config.get("NetworkMode") or "default"
    listed = dict((c.record.get("NetworkSettings") or {}).get("Networks") or {})
    if not listed:
        listed = {ipam.DEFAULT_NAME if mode == "default" else mode: {}}
    return listed


def initial_networks(store: Store, host: dict[str, Any], networking: dict[str, Any] | None) -> dict[str, Any]:
    """NetworkSettings.Networks of a new container (its endpoints' settings, no address yet);
    an unknown network, or an alias or address the network cannot have, fails as in Docker."""
    mode = host.get("NetworkMode") or "default"
    if mode.startswith("container:") and (host.get("PortBindings") or host.get("PublishAllPorts")):
        raise InvalidArgument("conflicting options: port publishing and the container type network mode")
    if mode in PLAIN_MODES or mode == SLIRP or mode.startswith("container:"):
        return {}
    network = _network(store, ipam.DEFAULT_NAME if mode == "default" else mode, make=False)
    configs = (networking or {}).get("EndpointsConfig") or {}
    settings = dict(configs.get(network.name) or configs.get(mode) or {})
    if network.name == ipam.DEFAULT_NAME and settings.get("Aliases"):
        raise InvalidArgument("network-scoped aliases are only supported for user-defined networks")
    wanted = settings.get("IPAMConfig") or {}
    for address, subnet in ((wanted.get("IPv4Address"), network.subnet), (wanted.get("IPv6Address"), network.subnet6)):
        if address and not (subnet and ipam.contains_any(subnet, address)):
            raise InvalidArgument(f"invalid endpoint settings: no configured subnet contains IP address {address}")
    return {network.name: endpoint_settings(network, None, settings)}


def open_sandbox(store: Store, c: Container, published: list[PortBinding]) -> Sandbox | None:
    """The network namespace the container's process is to be forked into, with its leases,
    hosts files and NetworkSettings (``wire`` plugs it in once the process is forked); None
    for ``host`` and ``none`` (the process makes its own). ``published`` are the ports the
    supervisor reserved (bound) for -p/-P: their IPv4 traffic is forwarded by the kernel
    (DNAT) to the container's address."""
    mode = c.host_config.get("NetworkMode") or "default"
    if mode in PLAIN_MODES:
        return None
    if mode == SLIRP or (rootless() and mode in ("default", "bridge")):
        return _slirp_sandbox(store, c, required=mode == SLIRP)
    if rootless() and not mode.startswith("container:"):
        # Bridges and firewall rules need root on the host.
        raise InvalidArgument(f"network {mode}: user-defined networks need root (not available rootless)")
    if mode.startswith("container:"):
        return Sandbox(_joined(store, mode.partition(":")[2]), c.id)
    reconcile(store)
    db = store.db
    resolved = [(_network(store, name), settings) for name, settings in wanted_networks(c).items()]
    sandbox = Sandbox(netbridge.new_namespace(), c.id)
    try:
        ports = [b for b in published if ":" not in b.host_ip and b.proto in ("tcp", "udp")]
        for index, (network, settings) in enumerate(resolved):
            names = [c.name, *(settings.get("Aliases") or []), c.id[:12]]
            wanted = settings.get("IPAMConfig") or {}
            endpoint = ipam.allocate(db, network, c.id, f"frt{c.id[:11]}{index}", names,
                                     wanted.get("IPv4Address") or "",
                                     mac=settings.get("MacAddress") or (c.config.get("MacAddress") if index == 0
                                                                        else "") or "",
                                     wanted6=wanted.get("IPv6Address") or "")
            sandbox.endpoints.append(endpoint)
            sandbox.networks.append(network)
            sandbox.dns = sandbox.dns or network.dns
        if ports and sandbox.endpoints:
            address = sandbox.endpoints[0].address
            sandbox.ports = [(b.host_ip, b.proto, b.host_port, address, b.container_port) for b in ports]
            _record_ports(store, c.id, sandbox.ports)
        _settle(store, c, resolved, sandbox)
    except BaseException:
        close_sandbox(store, sandbox)
        raise
    return sandbox


def _slirp_sandbox(store: Store, c: Container, required: bool) -> Sandbox | None:
    """A namespace of the container's own served by slirp4netns (see ``slirp``). Where the
    user cannot have it (``slirp.problem``) the default network of a rootless container is
    its loopback alone, with a warning (``default_network_warning``); ``--network
    slirp4netns`` asked for it, and fails."""
    problem = slirp.problem()
    if problem is not None:
        if required:
            raise FreightError(f"{problem}; use --network none")
        return None
    host = c.host_config
    # As Podman: the container's address with its name, ``host-gateway`` is slirp4netns' gateway,
    # and its DNS forwarder goes before the host's servers.
    write_hosts(c.directory(store), c.config.get("Hostname") or c.id[:12], c.config.get("Domainname") or "",
                list(host.get("ExtraHosts") or []), [slirp.ADDRESS], slirp.GATEWAY)
    if not host.get("Dns"):
        write_resolv_conf(c.directory(store), resolver_of(host, forwarder=slirp.DNS))
    fd = slirp.new_namespace()
    try:
        return Sandbox(fd, c.id, slirp4netns=slirp.Slirp.start(f"/proc/{os.getpid()}/fd/{fd}", c.directory(store)))
    except BaseException:
        os.close(fd)
        raise


def default_network_warning(host_config: dict[str, Any]) -> str | None:
    """The warning for a rootless container whose default network will be its loopback alone,
    as slirp4netns cannot run for this user (None when it can, or another network was asked)."""
    if not rootless() or (host_config.get("NetworkMode") or "default") not in ("default", "bridge"):
        return None
    problem = slirp.problem()
    return None if problem is None else f"{problem}: this container has no network but its loopback " \
                                           "(--network none says so without this warning)"


def forked_inside(sandbox: Sandbox) -> bool:
    """Whether the container's process is to be forked inside the sandbox's namespace (with the
    supervisor's thread there, ``netbridge.entered``), or enters it itself (slirp4netns)."""
    return sandbox.slirp4netns is None


def wire(store: Store, sandbox: Sandbox, host_netns: int | None) -> None:
    """The veths, published ports and DNS names of an opened sandbox. The supervisor calls it
    once the container's process is forked, while that builds its filesystem (and waits for
    us before its command runs), from inside the container's namespace: ``host_netns`` is
    where the host's side is (None when the supervisor stayed there: slirp4netns, whose tap
    device this waits for)."""
    if sandbox.slirp4netns is not None:
        sandbox.slirp4netns.ready()
        return
    assert host_netns is not None
    for index, (network, endpoint) in enumerate(zip(sandbox.networks, sandbox.endpoints)):
        netbridge.plug(sandbox.fd, network, endpoint, f"eth{index}", hairpin=bool(sandbox.ports),
                       first=index == 0, host_netns=host_netns)
    first = sandbox.networks[0] if sandbox.networks else None
    if first is not None and first.dns:
        netfirewall.embedded_dns(sandbox.fd, "eth0", first.gateway, sandbox.endpoints[0].address)
    if sandbox.ports:
        netfirewall.add_ports(sandbox.container_id, sandbox.ports, host_netns)
    if sandbox.dns:
        netdns.sync(store.root_path, store.db, host_netns)


def default_host_ip(store: Store, c: Container) -> str:
    """Where a port published without an address binds: the container's first network's
    ``host_binding_ipv4`` option ("": every address, Docker's default)."""
    mode = c.host_config.get("NetworkMode") or "default"
    if mode in PLAIN_MODES or mode.startswith("container:") or not (c.host_config.get("PortBindings")
                                                                    or c.host_config.get("PublishAllPorts")):
        return ""
    name = next(iter(wanted_networks(c)))
    try:
        network = ipam.lookup(store.db, name) if name != ipam.DEFAULT_NAME else None
    except NotFound:
        return ""  # open_sandbox says so
    value = network.options.get(ipam.HOST_BINDING, "") if network else ""
    return "" if value == "0.0.0.0" else value


def _joined(store: Store, ref: str) -> int:
    """``--network container:REF``: the namespace of that running container."""
    rows = store.db.execute("SELECT id, state FROM containers WHERE id = ? OR name = ? OR id LIKE ?",
                            (ref, ref, ref + "%")).fetchall()
    if not rows:
        raise NotFound(f"No such container: {ref}")
    state = json.loads(rows[0]["state"])
    pid = int(state.get("Pid") or 0)
    if not state.get("Running") or not alive(int(state.get("MonitorPid") or 0), state.get("MonitorStartTime")):
        raise Conflict(f"cannot join network namespace of a non running container: {rows[0]['id']}")
    return os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def _network(store: Store, name: str, make: bool = True) -> Network:
    """The network by name; the default one is made when missing, and (``make``) its bridge."""
    db = store.db
    if name == ipam.DEFAULT_NAME:
        network = ipam.default_network(db, netbridge.host_routes(skip={ipam.DEFAULT_BRIDGE}))
    else:
        network = ipam.lookup(db, name)
    if make and not netbridge.exists(network.bridge):
        ensure_bridge(store, network)
    return network


def ensure_bridge(store: Store, network: Network) -> None:
    """Make the network's bridge and (re)load the firewall table, unless a concurrent start
    (waited for, on a lock) made them first."""
    os.makedirs(f"{store.root_path}/network", 0o700, exist_ok=True)
    lock = os.open(f"{store.root_path}/network/bridges.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not netbridge.exists(network.bridge):
            netbridge.make_bridge(network)
            db = store.db
            netfirewall.load(ipam.networks(db), ports(db))
    finally:
        os.close(lock)


def _record_ports(store: Store, container_id: str, published: list[netfirewall.Port]) -> None:
    from freight.store.db import transaction

    with transaction(store.db) as db:
        db.execute("UPDATE endpoints SET ports = ? WHERE container_id = ?", (json.dumps(published), container_id))


def ports(db: Any) -> list[tuple[str, netfirewall.Port]]:
    """Every live published port: (container ID, port)."""
    out = []
    for row in db.execute("SELECT container_id, ports FROM endpoints WHERE ports != '[]'"):
        out += [(row[0], (str(p[0]), str(p[1]), int(p[2]), str(p[3]), int(p[4]))) for p in json.loads(row[1])]
    return out


def _settle(store: Store, c: Container, resolved: list[tuple[Network, dict[str, Any]]], sandbox: Sandbox) -> None:
    """The hosts files and NetworkSettings for the addresses the container got."""
    first = sandbox.endpoints[0]
    host = c.host_config
    hostname = c.config.get("Hostname") or c.id[:12]
    domain = c.config.get("Domainname") or ""
    write_hosts(c.directory(store), hostname, domain, list(host.get("ExtraHosts") or []),
                [a for e in sandbox.endpoints for a in (e.address, e.address6) if a], resolved[0][0].gateway)
    if resolved[0][0].dns:  # names on user-defined networks: Docker's resolver address (``wire``),
        # or for gVisor, whose stack the namespace's redirect of that address misses, the server's own
        local = resolved[0][0].gateway if has_own_network(host.get("Runtime")) else netfirewall.EMBEDDED_DNS
        write_resolv_conf(c.directory(store), resolver_of(host, local=local))
    networks = {}
    for (network, settings), e in zip(resolved, sandbox.endpoints):
        networks[network.name] = endpoint_settings(network, e, settings)
    ns = c.record.setdefault("NetworkSettings", {})
    ns.update(network_settings(networks, sandbox.fd, first if resolved[0][0].name == ipam.DEFAULT_NAME else None))
    ns["Networks"] = networks


def endpoint_settings(network: Network, e: Endpoint | None, settings: dict[str, Any]) -> dict[str, Any]:
    """One entry of NetworkSettings.Networks, as Docker shows it."""
    return {
        "IPAMConfig": settings.get("IPAMConfig"), "Links": None, "Aliases": settings.get("Aliases"),
        "MacAddress": e.mac if e else settings.get("MacAddress") or "", "DriverOpts": None, "GwPriority": 0,
        "NetworkID": network.id,
        "EndpointID": (os.urandom(32).hex() if e else ""), "Gateway": network.gateway if e else "",
        "IPAddress": e.address if e else "", "IPPrefixLen": network.prefix if e else 0,
        "IPv6Gateway": network.gateway6 if e and e.address6 else "", "GlobalIPv6Address": e.address6 if e else "",
        "GlobalIPv6PrefixLen": ipam.prefix6(network) if e and e.address6 else 0,
        "DNSNames": e.names if e and network.dns else None,
    }


def network_settings(networks: dict[str, Any], fd: int | None, default: Endpoint | None) -> dict[str, Any]:
    """The top-level NetworkSettings fields (the default bridge's address, as Docker)."""
    entry = networks.get(ipam.DEFAULT_NAME) or {}
    return {"Bridge": "", "SandboxID": os.urandom(32).hex() if fd is not None else "",
            "SandboxKey": "", "IPAddress": entry.get("IPAddress", "") if default else "",
            "IPPrefixLen": entry.get("IPPrefixLen", 0) if default else 0,
            "Gateway": entry.get("Gateway", "") if default else "",
            "MacAddress": entry.get("MacAddress", "") if default else "",
            "EndpointID": entry.get("EndpointID", "") if default else ""}


def close_sandbox(store: Store, sandbox: Sandbox) -> None:
    """Release what ``open_sandbox`` took (the veths go with the namespace)."""
    try:
        if sandbox.slirp4netns is not None:
            sandbox.slirp4netns.stop()
        if sandbox.endpoints:
            release(store, sandbox.container_id)
    finally:
        os.close(sandbox.fd)


def reopened(store: Store, fd: int, container_id: str) -> Sandbox:
    """The sandbox of a re-executed monitor (``slim``), which kept its namespace's ``fd``."""
    return Sandbox(fd, container_id, endpoints=ipam.endpoints_of(store.db, container_id))


def release(store: Store, container_id: str) -> None:
    """Drop the container's leases and what was derived from them (port elements, DNS names)."""
    db = store.db
    gone = ipam.release(db, container_id)
    if not gone:
        return
    published = [p for row in gone for p in _leased_ports(row)]
    if published:
        netfirewall.delete_ports(published)
    if any(ipam.lookup(db, e.network_id).dns for e in gone):
        netdns.sync(store.root_path, db)


def _leased_ports(e: Endpoint) -> list[netfirewall.Port]:
    return [(str(p[0]), str(p[1]), int(p[2]), str(p[3]), int(p[4])) for p in e.ports]


def reconcile(store: Store) -> None:
    """Release the leases of containers whose supervisor is gone (killed outright), and stop a
    DNS server that serves no container (its starter killed before it could)."""
    db = store.db
    for container_id in ipam.stale(db):
        release(store, container_id)
    if netdns.pid_of(store.root_path) is not None and not ipam.named_members(db):
        netdns.sync(store.root_path, db)


def forget(store: Store, c: Container) -> None:
    """After the container stopped: its addresses leave NetworkSettings (Docker keeps the entries).
    The networks are read again first: ``network connect`` and ``disconnect`` may have changed
    them while it ran."""
    ns = c.record.setdefault("NetworkSettings", {})
    row = store.db.execute("SELECT config FROM containers WHERE id = ?", (c.id,)).fetchone()
    if row is not None:
        ns["Networks"] = (json.loads(row[0]).get("NetworkSettings") or {}).get("Networks") or {}
    for entry in (ns.get("Networks") or {}).values():
        for key, empty in (("IPAddress", ""), ("Gateway", ""), ("MacAddress", ""), ("EndpointID", ""),
                           ("IPPrefixLen", 0), ("DNSNames", None), ("IPv6Gateway", ""), ("GlobalIPv6Address", ""),
                           ("GlobalIPv6PrefixLen", 0)):
            entry[key] = empty
    for key, empty in (("IPAddress", ""), ("Gateway", ""), ("MacAddress", ""), ("EndpointID", ""),
                       ("IPPrefixLen", 0), ("SandboxID", "")):
        if key in ns:
            ns[key] = empty
