"""Container networking: the network modes ``--network`` names.

Modes (``--network``): ``private`` (the default; also spelled ``default`` or
``bridge``) and ``none`` give the container a new network namespace with only the
loopback interface, which its process brings up before exec (``child.loopback_up``);
``host`` shares the host's namespace. freight has no bridge, so a private
namespace reaches nothing outside the container; published ports reach into it
through a proxy (``ports``, ``portproxy``).
"""

from __future__ import annotations

from freight.errors import NotFound

PRIVATE = "private"
NONE = "none"
HOST = "host"


def parse_network_mode(value: str) -> str:
    """Map ``--network`` to a mode; an unknown network fails as in Docker."""
    if value in ("", "default", "bridge", PRIVATE):
        return PRIVATE
    if value in (NONE, HOST):
        return value
    if value.startswith("container:") and len(value) > len("container:"):
        return value
    raise NotFound(f"network {value} not found")
