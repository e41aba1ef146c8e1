"""Networks and address leases, kept in the store's database.

``networks`` holds each network (the default ``bridge`` one is made on first use);
``endpoints`` holds one lease per (running container, network): its address, MAC,
host-side veth, aliases and the supervisor that holds it (PID and start time, so a
lease whose holder was killed is found and released by ``stale``). Addresses are
handed out sequentially after the network's cursor, as Docker's IPAM does, so a
just-released address is not reused at once; ``UNIQUE (network_id, address)`` makes
a double allocation impossible.
"""

from __future__ import annotations

import json
import os
import sqlite3

from freight.errors import Conflict, Forbidden, FreightError, InvalidArgument, NotFound
from freight.pids import alive, start_time
from freight.record import Record, field
from freight.runtime.times import timestamp
from freight.store.db import register_schema, transaction

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    driver TEXT NOT NULL DEFAULT 'bridge',
    bridge TEXT UNIQUE NOT NULL,      -- freight0, or frt-<12 hex of the id>
    subnet TEXT NOT NULL,             -- 10.77.0.0/16
    gateway TEXT NOT NULL,
    internal INTEGER NOT NULL DEFAULT 0,
    labels TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL,
    cursor INTEGER NOT NULL DEFAULT 1  -- the last host number handed out
);
CREATE TABLE IF NOT EXISTS endpoints (
    network_id TEXT NOT NULL REFERENCES networks(id),
    container_id TEXT NOT NULL,
    address TEXT NOT NULL,
    mac TEXT NOT NULL,
    veth TEXT NOT NULL,
    names TEXT NOT NULL DEFAULT '[]',  -- DNS names: container name, aliases, short ID
    owner_pid INTEGER NOT NULL,
    owner_start TEXT NOT NULL,
    ports TEXT NOT NULL DEFAULT '[]',  -- published ports: [[host ip, proto, host port, container port]]
    PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, address)
);
"""
# Version 2: ``network create --attachable`` and IPv6 (``--ipv6``: a subnet and gateway of
# the network's, an address of the endpoint's); "" where there is none.
SCHEMA_V2 = """
ALTER TABLE networks ADD COLUMN attachable INTEGER NOT NULL DEFAULT 0;
ALTER TABLE networks ADD COLUMN subnet6 TEXT NOT NULL DEFAULT '';
ALTER TABLE networks ADD COLUMN gateway6 TEXT NOT NULL DEFAULT '';
ALTER TABLE endpoints ADD COLUMN address6 TEXT NOT NULL DEFAULT '';
"""
register_schema("network", 2, SCHEMA + SCHEMA_V2)


DEFAULT_NAME = "bridge"
DEFAULT_BRIDGE = "freight0"
# Docker takes 172.17/16, then 172.18-31 and 192.168/16; Podman 10.88/16 and 10.89-10.255 in /24s.
DEFAULT_SUBNET = "10.77.0.0/16"
USER_POOL = "10.78.0.0/15"  # user-defined networks get /24s from here
SUBNET_ENV = "FREIGHT_BRIDGE_SUBNET"

# Docker's bridge driver options (``network create -o``) that freight applies; others are kept
# and shown, as Docker keeps them.
BRIDGE_NAME = "com.docker.network.bridge.name"
MTU = "com.docker.network.driver.mtu"
MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
ICC = "com.docker.network.bridge.enable_icc"
HOST_BINDING = "com.docker.network.bridge.host_binding_ipv4"
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_BOOLS = (*_TRUE, "0", "f", "F", "FALSE", "false", "False")  # what Go's strconv.ParseBool takes


def check_options(options: dict[str, str]) -> None:
    """Refuse a value Docker's bridge driver refuses, with its message."""
    for key, value in options.items():
        if key == MTU and not value.lstrip("-").isdigit():
            raise InvalidArgument(f'failed to parse {key} value: {value} (strconv.Atoi: parsing "{value}": '
                                  "invalid syntax)")
        if key == MTU and not 68 <= int(value) <= 65535:
            raise InvalidArgument(f"invalid MTU number: {value} (from 68 to 65535)")
        if key in (MASQUERADE, ICC) and value not in _BOOLS:
            raise InvalidArgument(f'failed to parse {key} value: {value} (strconv.ParseBool: parsing "{value}": '
                                  "invalid syntax)")
        if key == HOST_BINDING:
            to_int(value)
        if key == BRIDGE_NAME and not (0 < len(value) <= 15 and all(c.isalnum() or c in "-_." for c in value)):
            raise InvalidArgument(f"invalid bridge name {value}: up to 15 letters, digits, '-', '_' or '.'")


class Network(Record):
    id: str
    name: str
    driver: str
    bridge: str
    subnet: str
    gateway: str
    internal: bool
    labels: dict[str, str]
    options: dict[str, str]
    created: str
    attachable: bool = False
    subnet6: str = ""  # IPv6 (``--ipv6``): "" for none
    gateway6: str = ""

    @property
    def prefix(self) -> int:
        return int(self.subnet.partition("/")[2])

    @property
    def mtu(self) -> int | None:
        value = self.options.get(MTU)
        return int(value) if value else None

    @property
    def masquerade(self) -> bool:
        """Outbound traffic leaves with the host's address (``enable_ip_masquerade``, on by default)."""
        return not self.internal and self.options.get(MASQUERADE, "true") in _TRUE

    @property
    def icc(self) -> bool:
        """Containers of the network reach each other (``enable_icc``, on by default)."""
        return self.options.get(ICC, "true") in _TRUE

    @property
    def dns(self) -> bool:
        """Containers find each other by name: on user-defined networks only, as in Docker."""
        return self.name != DEFAULT_NAME


class Endpoint(Record):
    network_id: str
    container_id: str
    address: str
    mac: str
    veth: str
    names: list[str]
    ports: list[list[Any]] = field(default_factory=list)  # netfirewall.Port values, as JSON gives them
    address6: str = ""  # on an IPv6 network


# ------------------------------------------------------------------ addresses

def to_int(address: str) -> int:
    parts = address.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise InvalidArgument(f"invalid IP address: {address}")
    return int.from_bytes(bytes(int(p) for p in parts), "big")


def to_text(value: int) -> str:
    return ".".join(str(b) for b in value.to_bytes(4, "big"))


def parse_subnet(text: str) -> tuple[int, int]:
    """``(network address, prefix length)``; host bits set are refused as Docker refuses them."""
    address, slash, length = text.partition("/")
    if not slash or not length.isdigit() or not 8 <= int(length) <= 30:
        raise InvalidArgument(f"invalid subnet {text}: give an IPv4 CIDR with a prefix of /8 to /30")
    base, prefix = to_int(address), int(length)
    if base & ((1 << (32 - prefix)) - 1):
        raise InvalidArgument(f"invalid subnet {text}: it has host bits set")
    return base, prefix


def contains(subnet: str, address: str) -> bool:
    base, prefix = parse_subnet(subnet)
    return (to_int(address) >> (32 - prefix)) == (base >> (32 - prefix))


def contains_any(subnet: str, address: str) -> bool:
    """``contains`` for an IPv4 or an IPv6 subnet (False for an address of the other family)."""
    if ":" not in subnet:
        return ":" not in address and contains(subnet, address)
    import ipaddress  # only IPv6 networks need it

    try:
        return ipaddress.ip_address(address) in ipaddress.IPv6Network(subnet)
    except ValueError:
        return False


def overlaps(a: str, b: str) -> bool:
    (x, px), (y, py) = parse_subnet(a), parse_subnet(b)
    shift = 32 - min(px, py)
    return (x >> shift) == (y >> shift)


def mac_of(address: str) -> str:
    """Docker's scheme: 02:42 and the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in to_int(address).to_bytes(4, "big"))


# ------------------------------------------------------------------ networks

def _network(row: sqlite3.Row) -> Network:
    return Network(row["id"], row["name"], row["driver"], row["bridge"], row["subnet"], row["gateway"],
                   bool(row["internal"]), json.loads(row["labels"]), json.loads(row["options"]), row["created"],
                   bool(row["attachable"]), row["subnet6"], row["gateway6"])


def networks(db: sqlite3.Connection) -> list[Network]:
    return [_network(r) for r in db.execute("SELECT * FROM networks ORDER BY created, name")]


def default_network(db: sqlite3.Connection, host_routes: list[str]) -> Network:
    """The ``bridge`` network, made on first use with ``FREIGHT_BRIDGE_SUBNET`` or ``DEFAULT_SUBNET``."""
    row = db.execute("SELECT * FROM networks WHERE name = ?", (DEFAULT_NAME,)).fetchone()
    if row is not None:
        return _network(row)
    subnet = os.environ.get(SUBNET_ENV) or DEFAULT_SUBNET
    try:
        return add_network(db, DEFAULT_NAME, subnet, None, False, {}, host_routes, bridge=DEFAULT_BRIDGE)
    except Conflict:
        row = db.execute("SELECT * FROM networks WHERE name = ?", (DEFAULT_NAME,)).fetchone()
        if row is None:
            raise
        return _network(row)  # made by another process meanwhile


def lookup(db: sqlite3.Connection, ref: str) -> Network:
    """A network by name, full ID or unique ID prefix; Docker's error otherwise."""
    db = db
    row = db.execute("SELECT * FROM networks WHERE name = ? OR id = ?", (ref, ref)).fetchone()
    if row is None and ref:
        rows = db.execute("SELECT * FROM networks WHERE id LIKE ?", (ref.lower() + "%",)).fetchall()
        if len(rows) > 1:
            raise NotFound(f"network {ref} is ambiguous ({len(rows)} matches found based on ID prefix)")
        row = rows[0] if rows else None
    if row is None:
        raise NotFound(f"network {ref} not found")
    return _network(row)


def add_network(db: sqlite3.Connection, name: str, subnet: str | None, gateway: str | None, internal: bool,
                labels: dict[str, str], host_routes: list[str], bridge: str | None = None,
                options: dict[str, str] | None = None, attachable: bool = False, subnet6: str = "",
                gateway6: str = "") -> Network:
    """Record a new network; its subnet is checked against the others' and the host's routes
    (``subnet6``: its IPv6 subnet, checked against the others')."""
    nid = os.urandom(32).hex()
    bridge = bridge or f"frt-{nid[:11]}"
    with transaction(db):
        if db.execute("SELECT 1 FROM networks WHERE name = ?", (name,)).fetchone():
            raise Conflict(f"network with name {name} already exists")
        other = db.execute("SELECT id, bridge FROM networks WHERE bridge = ?", (bridge,)).fetchone()
        if other is not None:
            raise Forbidden(f"cannot create network {nid} ({bridge}): conflicts with network {other[0]} "
                            f"({other[1]}): networks have same bridge name")
        if subnet6:
            gateway6 = _check_subnet6(db, subnet6, gateway6)
        taken = [r[0] for r in db.execute("SELECT subnet FROM networks")]
        if subnet is None:
            subnet = _free_subnet(taken, host_routes)
        else:
            parse_subnet(subnet)
            for other in taken:
                if overlaps(subnet, other):
                    raise Forbidden("Pool overlaps with other one on this address space")
            for route in host_routes:
                if overlaps(subnet, route):
                    raise Forbidden(f"subnet {subnet} overlaps with the host's route to {route}: "
                                   f"choose another subnet")
        base, prefix = parse_subnet(subnet)
        gateway = gateway or to_text(base + 1)
        if not contains(subnet, gateway):
            raise InvalidArgument(f"no matching subnet for gateway {gateway}")
        network = Network(nid, name, "bridge", bridge, subnet, gateway, internal, labels, options or {}, timestamp(),
                          attachable, subnet6, gateway6)
        db.execute("INSERT INTO networks (id, name, driver, bridge, subnet, gateway, internal, labels, options,"
                   " created, cursor, attachable, subnet6, gateway6) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (nid, name, "bridge", network.bridge, subnet, gateway, int(internal), json.dumps(labels),
                    json.dumps(network.options), network.created, to_int(gateway) - base, int(attachable),
                    subnet6, gateway6))
    return network


def _check_subnet6(db: sqlite3.Connection, subnet6: str, gateway6: str) -> str:
    """Refuse an IPv6 subnet that is malformed or overlaps another network's; the gateway
    (the first address unless given)."""
    import ipaddress  # only IPv6 networks need it

    try:
        net = ipaddress.IPv6Network(subnet6)
    except ValueError as err:
        raise InvalidArgument(f"invalid subnet {subnet6}: {err}") from None
    if net.prefixlen > 120:
        raise InvalidArgument(f"invalid subnet {subnet6}: give an IPv6 prefix of /120 or shorter")
    for (other,) in db.execute("SELECT subnet6 FROM networks WHERE subnet6 != ''"):
        if net.overlaps(ipaddress.IPv6Network(other)):
            raise Forbidden("Pool overlaps with other one on this address space")
    try:
        gateway = ipaddress.IPv6Address(gateway6) if gateway6 else net[1]
    except ValueError:
        raise InvalidArgument(f"invalid gateway {gateway6}: not an IPv6 address") from None
    if gateway not in net:
        raise InvalidArgument(f"no matching subnet for gateway {gateway6}")
    return str(gateway)


def address6(db: sqlite3.Connection, network: Network, address: str, wanted: str = "") -> str:
    """A container's IPv6 address on an IPv6 network: ``wanted`` (``--ip6``), or the subnet's host
    with the number its IPv4 address has; "" on an IPv4-only network."""
    if not network.subnet6:
        if wanted:
            raise InvalidArgument(f"invalid endpoint settings: no configured subnet contains IP address {wanted}")
        return ""
    import ipaddress  # only IPv6 networks need it

    net = ipaddress.IPv6Network(network.subnet6)
    if wanted:
        try:
            chosen = ipaddress.IPv6Address(wanted)
        except ValueError:
            raise InvalidArgument(f"invalid IPv6 address: {wanted}") from None
        if chosen not in net:
            raise InvalidArgument(f"invalid endpoint settings: no configured subnet contains IP address {wanted}")
    else:
        host = to_int(address) - parse_subnet(network.subnet)[0]
        if host >= net.num_addresses:
            raise FreightError(f"no available IPv6 addresses on this network's address pools ({network.subnet6} "
                               f"is smaller than {network.subnet})")
        chosen = net[host]
    used = {ipaddress.IPv6Address(r[0]) for r in db.execute(
        "SELECT address6 FROM endpoints WHERE network_id = ? AND address6 != ''", (network.id,))}
    if chosen in used or chosen in (net[0], ipaddress.IPv6Address(network.gateway6)):
        raise Conflict("failed to set up container networking: Address already in use")
    return str(chosen)


def prefix6(network: Network) -> int:
    return int(network.subnet6.partition("/")[2]) if network.subnet6 else 0


def _free_subnet(taken: list[str], host_routes: list[str]) -> str:
    base, prefix = parse_subnet(USER_POOL)
    for n in range(1 << (24 - prefix)):
        candidate = f"{to_text(base + (n << 8))}/24"
        if not any(overlaps(candidate, other) for other in (*taken, *host_routes)):
            return candidate
    raise FreightError("could not find an available, non-overlapping IPv4 address pool among the defaults "
                       "to assign to the network")


def remove_network(db: sqlite3.Connection, network: Network) -> None:
    with transaction(db):
        db.execute("DELETE FROM networks WHERE id = ?", (network.id,))


# ------------------------------------------------------------------ leases

def allocate(db: sqlite3.Connection, network: Network, container_id: str, veth: str,
             names: list[str], wanted: str = "", owner: tuple[int, str] | None = None, mac: str = "",
             wanted6: str = "") -> Endpoint:
    """Lease an address (``wanted``, or the next free one; on an IPv6 network an IPv6 one too,
    ``wanted6`` or one of ``address6``'s choice) held by ``owner`` (PID, start time: the
    container's supervisor), by default the calling process."""
    base, prefix = parse_subnet(network.subnet)
    size = 1 << (32 - prefix)
    gateway = to_int(network.gateway) - base
    with transaction(db):
        used = {to_int(r[0]) - base for r in
                db.execute("SELECT address FROM endpoints WHERE network_id = ?", (network.id,))}
        if wanted:
            if not contains(network.subnet, wanted):
                raise InvalidArgument(f"invalid endpoint settings: no configured subnet contains IP address "
                                      f"{wanted}")
            host = to_int(wanted) - base
            if host in used or host in (0, gateway, size - 1):
                raise Conflict("failed to set up container networking: Address already in use")
        else:
            cursor = db.execute("SELECT cursor FROM networks WHERE id = ?", (network.id,)).fetchone()[0]
            host = _next_free(cursor, size, used | {gateway})
            db.execute("UPDATE networks SET cursor = ? WHERE id = ?", (host, network.id))
        address = to_text(base + host)
        endpoint = Endpoint(network.id, container_id, address, mac or mac_of(address), veth, names,
                            address6=address6(db, network, address, wanted6))
        if owner is None:
            owner = (os.getpid(), start_time(os.getpid()) or "")
        db.execute("INSERT INTO endpoints (network_id, container_id, address, mac, veth, names, owner_pid,"
                   " owner_start, address6) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (network.id, container_id, address, endpoint.mac, veth, json.dumps(names), *owner,
                    endpoint.address6))
    return endpoint


def _next_free(cursor: int, size: int, used: set[int]) -> int:
    for step in range(1, size):
        host = (cursor + step - 1) % (size - 2) + 1  # 1 .. size-2: not the network nor broadcast
        if host not in used:
            return host
    raise FreightError("no available IPv4 addresses on this network's address pools")


def release(db: sqlite3.Connection, container_id: str) -> list[Endpoint]:
    """Drop every lease of the container; return them."""
    with transaction(db):
        gone = endpoints_of(db, container_id)
        db.execute("DELETE FROM endpoints WHERE container_id = ?", (container_id,))
    return gone


def release_one(db: sqlite3.Connection, network_id: str, container_id: str) -> None:
    with transaction(db):
        db.execute("DELETE FROM endpoints WHERE network_id = ? AND container_id = ?", (network_id, container_id))


def _endpoint(row: sqlite3.Row) -> Endpoint:
    return Endpoint(row["network_id"], row["container_id"], row["address"], row["mac"], row["veth"],
                    json.loads(row["names"]), json.loads(row["ports"]), row["address6"])


def endpoints_of(db: sqlite3.Connection, container_id: str) -> list[Endpoint]:
    return [_endpoint(r) for r in db.execute(
        "SELECT * FROM endpoints WHERE container_id = ?", (container_id,))]


def endpoints(db: sqlite3.Connection, network_id: str | None = None) -> list[Endpoint]:
    if network_id is None:
        return [_endpoint(r) for r in db.execute("SELECT * FROM endpoints")]
    return [_endpoint(r) for r in db.execute(
        "SELECT * FROM endpoints WHERE network_id = ?", (network_id,))]


def named_members(db: sqlite3.Connection) -> bool:
    """Whether any container is on a network with DNS (a user-defined one)."""
    return db.execute("SELECT 1 FROM endpoints JOIN networks ON networks.id = endpoints.network_id "
                      "WHERE networks.name != ? LIMIT 1", (DEFAULT_NAME,)).fetchone() is not None


def stale(db: sqlite3.Connection) -> list[str]:
    """The containers whose leases are held by a process that is gone (killed outright); a read
    only (a store without network tables has none)."""
    try:
        rows = db.execute("SELECT DISTINCT container_id, owner_pid, owner_start FROM endpoints").fetchall()
    except sqlite3.OperationalError:
        return []
    return sorted({r[0] for r in rows if not alive(r[1], r[2])})
