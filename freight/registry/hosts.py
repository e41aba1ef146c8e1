"""Where a registry is and how to reach it.

Registries are reached over HTTPS with the system's trust store, except
insecure ones: ``localhost``, ``127.0.0.0/8`` and ``::1`` always, and those
listed in freight's registry configuration, the JSON file named by
``$FREIGHT_CONFIG``, else ``$XDG_CONFIG_HOME/freight/registries.json``
(``~/.config/freight/registries.json``)::

    {"insecure-registries": ["myregistry.lan:5000", "10.0.0.0/8"]}

Entries are ``host[:port]`` names or CIDR ranges, as in Docker's daemon.json.
As Docker does, an insecure registry is tried over HTTPS without certificate
verification first, then over plain HTTP (``Registry.ping``). ``docker.io`` is
served by ``registry-1.docker.io``.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from freight import settings
from freight.errors import FreightError

HUB_ENDPOINT = "registry-1.docker.io"


def config_file() -> Path:
    return Path(settings.config_file())


def insecure_registries() -> list[str]:
    try:
        config = json.loads(config_file().read_text())
    except FileNotFoundError:
        return []
    except ValueError as err:
        raise FreightError(f"{config_file()}: {err}") from None
    return list(config.get("insecure-registries", []))


def _split_host(host: str) -> str:
    """The address part of ``host[:port]`` (IPv6 in brackets allowed)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_insecure(host: str) -> bool:
    """Whether ``host`` is spoken to over plain HTTP (see the module docstring)."""
    name = _split_host(host)
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None and address.is_loopback:
        return True
    for entry in insecure_registries():
        if entry == host or entry == name:
            return True
        if address is not None and "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def endpoint(domain: str) -> str:
    """The HTTPS base URL of the registry that serves references under ``domain``."""
    return f"https://{HUB_ENDPOINT if domain == 'docker.io' else domain}"
