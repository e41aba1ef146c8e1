"""The /etc/hosts, /etc/hostname and /etc/resolv.conf freight gives each container, as
Docker writes them.

``write_host_files`` writes them when the container is created; a container with an
address of its own gets its ``hosts`` (the address with its host name) and, on a
user-defined network, its ``resolv.conf`` (the network's DNS server) again when it
starts (``netsandbox``). ``--dns``, ``--dns-search`` and ``--dns-option`` replace the
host's entries of their kind; ``--add-host`` lines follow the defaults.
"""

from __future__ import annotations

import os

from freight.record import Record, field

_HOSTS = ("127.0.0.1\tlocalhost\n"
          "::1\tlocalhost ip6-localhost ip6-loopback\n"
          "fe00::0\tip6-localnet\n"
          "ff00::0\tip6-mcastprefix\n"
          "ff02::1\tip6-allnodes\n"
          "ff02::2\tip6-allrouters\n")
# Docker's fallback when the host has no usable nameserver.
_DEFAULT_NAMESERVERS = ["8.8.8.8", "8.8.4.4"]


class Resolver(Record):
    """What ``resolv.conf`` says: HostConfig's ``Dns``, ``DnsSearch`` and ``DnsOptions``, and the
    resolver on user-defined networks (``local``: Docker's 127.0.0.11) that takes the nameservers' place,
    or a DNS forwarder put before the host's nameservers (``forwarder``: slirp4netns' 10.0.2.3, as Podman)."""

    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    local: str = ""
    forwarder: str = ""


def resolver_of(host_config: dict[str, object], local: str = "", forwarder: str = "") -> Resolver:
    def strings(key: str) -> list[str]:
        value = host_config.get(key)
        return [str(v) for v in value] if isinstance(value, list) else []

    return Resolver(strings("Dns"), strings("DnsSearch"), strings("DnsOptions"), local, forwarder)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def resolv_conf(host_network: bool, source: str = "/etc/resolv.conf", wanted: Resolver | None = None) -> str:
    """The host's resolv.conf; without the host network, minus loopback nameservers (they would
    point into the container's own namespace). ``wanted`` overrides rebuild it as Docker does:
    search, nameservers, options."""
    text = _read(source)
    wanted = wanted or Resolver()
    if not (wanted.nameservers or wanted.search or wanted.options or wanted.local or wanted.forwarder):
        return text if host_network else _without_loopback(text)
    host_servers, host_search, host_options = [], [], []
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1:
            host_servers.append(words[1])
        elif words[:1] in (["search"], ["domain"]):
            host_search = words[1:]
        elif words[:1] == ["options"]:
            host_options = words[1:]
    reachable = [s for s in host_servers if host_network or not _is_loopback(s)]
    if wanted.forwarder:
        reachable = [wanted.forwarder, *reachable]
    servers = [wanted.local] if wanted.local else wanted.nameservers or reachable or _DEFAULT_NAMESERVERS
    search = wanted.search or host_search
    options = wanted.options or host_options
    if wanted.local and not any(o.startswith("ndots:") for o in options):
        options = [*options, "ndots:0"]
    out = f"search {' '.join(search)}\n" if search else ""
    out += "".join(f"nameserver {s}\n" for s in servers)
    return out + (f"options {' '.join(options)}\n" if options else "")


def _without_loopback(text: str) -> str:
    lines = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver" and _is_loopback(words[1]):
            continue
        lines.append(line)
    out = "\n".join(lines) + ("\n" if lines else "")
    if not any(line.split()[:1] == ["nameserver"] for line in lines):
        out += "".join(f"nameserver {s}\n" for s in _DEFAULT_NAMESERVERS)
    return out


def _is_loopback(address: str) -> bool:
    return address.startswith("127.") or address in ("::1", "0:0:0:0:0:0:0:1")


def extra_host_lines(extra: list[str], gateway: str) -> str:
    """``--add-host NAME:IP`` as Docker writes them (``host-gateway``: the network's gateway)."""
    lines = ""
    for entry in extra:
        name, _, address = entry.partition(":")
        if address == "host-gateway":
            address = gateway
        lines += f"{address}\t{name}\n"
    return lines


def write_host_files(directory: str, hostname: str, host_network: bool, extra: list[str] | None = None,
                     resolver: Resolver | None = None) -> None:
    base = _read("/etc/hosts") if host_network else _HOSTS
    files = {
        "hostname": hostname + "\n",
        "hosts": base + extra_host_lines(extra or [], ""),
        "resolv.conf": resolv_conf(host_network, wanted=resolver),
    }
    for name, content in files.items():
        _write_file(f"{directory}/{name}", content)


def write_hosts(directory: str, hostname: str, domain: str, extra: list[str], addresses: list[str],
                gateway: str) -> None:
    """/etc/hosts of a container with addresses, as Docker writes it: the defaults, the
    ``--add-host`` entries, then each address with the host name."""
    names = f"{hostname}.{domain} {hostname}" if domain else hostname
    text = _HOSTS + extra_host_lines(extra, gateway) + "".join(f"{a}\t{names}\n" for a in addresses)
    _write_file(f"{directory}/hosts", text)


def write_resolv_conf(directory: str, resolver: Resolver) -> None:
    _write_file(f"{directory}/resolv.conf", resolv_conf(False, wanted=resolver))


def _write_file(path: str, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, content.encode())
    finally:
        os.close(fd)
