"""Published ports: ``-p`` and ``-P`` as Docker parses them, and how they are reported.

``parse_publish`` reads one ``-p`` value (``[ip:][hostPort:]containerPort[/proto]``,
ranges, or the long ``published=,target=,protocol=`` form) with Docker's error
messages; ``expose_all`` is ``-P``. ``ports_json`` gives inspect's
``NetworkSettings.Ports`` and ``port_lines`` the lines of ``freight port``. The
proxy that serves the ports is ``portproxy``.
"""

from __future__ import annotations

import re

from freight.errors import InvalidArgument
from freight.record import Record

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Iterable


class PortBinding(Record):
    """A container port published on the host.

    ``host_ip`` "" means every IPv4 address (reported as 0.0.0.0); ``host_port`` 0
    means any free port; ``host_port_end`` > ``host_port`` lets the proxy pick the
    first free port of that range (``-p 8000-8010:80``).
    """

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.proto}"


def _parse_range(text: str) -> tuple[int, int]:
    """Docker's ParsePortRange: "80" or "80-90", each a 16-bit number."""
    low, sep, high = text.partition("-")
    if not re.fullmatch(r"\d+", low) or (sep and not re.fullmatch(r"\d+", high)):
        raise ValueError(text)
    start, end = int(low), int(high) if sep else int(low)
    if start > 65535 or end > 65535 or end < start:
        raise ValueError(text)
    return start, end


def _split_parts(spec: str) -> tuple[str, str, str]:
    parts = spec.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _split_proto(text: str) -> tuple[str, str]:
    parts = text.split("/")
    if not text or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _long_syntax(spec: str) -> str:
    """``published=8080,target=80,protocol=udp`` to ``8080:80/udp``, as Docker's CLI."""
    params = {"protocol": "tcp"}
    for field in spec.split(","):
        key, sep, value = field.partition("=")
        if not sep or not key:
            raise InvalidArgument(
                f"invalid publish opts format (should be name=value but got '{field}')"
            )
        params[key] = value
    return f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"


def _parse_ip(ip: str) -> str:
    if ip.startswith("["):
        if not ip.endswith("]"):
            raise InvalidArgument(f"Invalid ip address {ip}: missing ']' in address {ip}:")
        ip = ip[1:-1]
    if ip:
        import ipaddress  # a few ms of start-up: only -p with an address needs it

        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise InvalidArgument(f"Invalid ip address: {ip}") from None
    return ip


def parse_publish(spec: str) -> list[PortBinding]:
    """Parse one ``-p`` value: ``[ip:][hostPort:]containerPort[/proto]``, with ranges."""
    raw = _long_syntax(spec) if "=" in spec else spec
    ip_text, host_text, container_text = _split_parts(raw)
    proto, container_text = _split_proto(container_text)
    ip = _parse_ip(ip_text)
    if not container_text:
        raise InvalidArgument(f"No port specified: {raw}<empty>")
    try:
        start, end = _parse_range(container_text)
    except ValueError:
        raise InvalidArgument(f"Invalid containerPort: {container_text}") from None
    host_start = host_end = 0
    if host_text:
        try:
            host_start, host_end = _parse_range(host_text)
        except ValueError:
            raise InvalidArgument(f"Invalid hostPort: {host_text}") from None
        if end - start != host_end - host_start and end != start:
            raise InvalidArgument(
                "Invalid ranges specified for container and host Ports: "
                f"{container_text} and {host_text}"
            )
    proto = proto.lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"Invalid proto: {proto}")
    if proto == "sctp":
        raise InvalidArgument("sctp port publishing is not supported by freight")
    if start == end:  # one container port: a host range is a range to choose from
        return [PortBinding(start, proto, ip, host_start, host_end if host_end > host_start else 0)]
    return [
        PortBinding(port, proto, ip, host_start + i if host_text else 0)
        for i, port in enumerate(range(start, end + 1))
    ]


def expose_all(exposed: Iterable[str], published: Iterable[PortBinding] = ()) -> list[PortBinding]:
    """``-P``: every exposed port ("80/tcp", "53/udp", "8080") not already published
    gets a random host port on every address."""
    taken = {b.key for b in published}
    result = []
    for entry in exposed:
        proto, port_text = _split_proto(entry)
        try:
            start, end = _parse_range(port_text)
        except ValueError:
            raise InvalidArgument(f"Invalid containerPort: {port_text}") from None
        for port in range(start, end + 1):
            binding = PortBinding(port, proto.lower() or "tcp")
            if binding.key not in taken:
                taken.add(binding.key)
                result.append(binding)
    return result


def _shown_ip(binding: PortBinding) -> str:
    return binding.host_ip or "0.0.0.0"


def ports_json(bindings: Iterable[PortBinding],
               exposed: Iterable[str] = ()) -> dict[str, list[dict[str, str]] | None]:
    """NetworkSettings.Ports: ``{"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}``;
    exposed ports that are not published map to None (null), as in Docker."""
    result: dict[str, list[dict[str, str]] | None] = {}
    for entry in exposed:
        proto, port = _split_proto(entry)
        result.setdefault(f"{port}/{proto.lower()}", None)
    for binding in bindings:
        entries = result.get(binding.key) or []
        entries.append({"HostIp": _shown_ip(binding), "HostPort": str(binding.host_port)})
        result[binding.key] = entries
    return result


def port_lines(bindings: Iterable[PortBinding]) -> list[str]:
    """``freight port`` lines: ``80/tcp -> 127.0.0.1:8080`` (IPv6 in brackets)."""
    lines = []
    for binding in bindings:
        ip = _shown_ip(binding)
        shown = f"[{ip}]" if ":" in ip else ip
        lines.append(f"{binding.key} -> {shown}:{binding.host_port}")
    return lines
