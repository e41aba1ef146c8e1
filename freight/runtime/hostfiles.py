"""The /etc/hosts, /etc/hostname and /etc/resolv.conf freight gives each container."""

from __future__ import annotations

import os

_HOSTS = ("127.0.0.1\tlocalhost\n"
          "::1\tlocalhost ip6-localhost ip6-loopback\n"
          "fe00::0\tip6-localnet\n"
          "ff00::0\tip6-mcastprefix\n"
          "ff02::1\tip6-allnodes\n"
          "ff02::2\tip6-allrouters\n")
# Docker's fallback when the host has no usable nameserver.
_DEFAULT_NAMESERVERS = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def resolv_conf(host_network: bool, source: str = "/etc/resolv.conf") -> str:
    """The host's resolv.conf; without the host network, minus loopback nameservers
    (they would point into the container's own namespace)."""
    text = _read(source)
    if host_network:
        return text
    lines = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver" and _is_loopback(words[1]):
            continue
        lines.append(line)
    out = "\n".join(lines) + ("\n" if lines else "")
    if not any(line.split()[:1] == ["nameserver"] for line in lines):
        out += _DEFAULT_NAMESERVERS
    return out


def _is_loopback(address: str) -> bool:
    return address.startswith("127.") or address in ("::1", "0:0:0:0:0:0:0:1")


def write_host_files(directory: str, hostname: str, host_network: bool) -> None:
    files = {
        "hostname": hostname + "\n",
        "hosts": _read("/etc/hosts") if host_network else _HOSTS,
        "resolv.conf": resolv_conf(host_network),
    }
    for name, content in files.items():
        _write_file(f"{directory}/{name}", content)


def extra_host_lines(extra: list[str], gateway: str) -> str:
    """``--add-host NAME:IP`` as Docker writes them (``host-gateway``: the network's gateway)."""
    lines = ""
    for entry in extra:
        name, _, address = entry.partition(":")
        if address == "host-gateway":
            address = gateway
        lines += f"{address}\t{name}\n"
    return lines


def write_hosts(directory: str, hostname: str, domain: str, extra: list[str], addresses: list[str],
                gateway: str) -> None:
    """/etc/hosts of a container with addresses, as Docker writes it: the defaults, the
    ``--add-host`` entries, then each address with the host name."""
    names = f"{hostname}.{domain} {hostname}" if domain else hostname
    text = _HOSTS + extra_host_lines(extra, gateway) + "".join(f"{a}\t{names}\n" for a in addresses)
    _write_file(f"{directory}/hosts", text)


def _write_file(path: str, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, content.encode())
    finally:
        os.close(fd)
