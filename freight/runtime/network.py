"""Container networking: the network modes ``--network`` names.

Modes (``--network``): ``default`` (also spelled ``bridge``): the default bridge network;
the name or ID of a user-defined network (``network create``); ``none``: a namespace of
its own with only the loopback interface, which the container's process brings up
before exec (``child.loopback_up``); ``host``: the host's namespace;
``container:NAME``: that running container's namespace; ``slirp4netns``: a namespace of its
own with outbound access through slirp4netns (``slirp``), the default of a rootless
container. The networks themselves are ``netsandbox``'s (and ``ipam``, ``netbridge``,
``netfirewall``, ``netdns``); whether a named network exists is checked against the store
when the container is created.
"""

from __future__ import annotations

from freight.errors import InvalidArgument

DEFAULT = "default"
NONE = "none"
HOST = "host"
SLIRP = "slirp4netns"


def parse_network_mode(value: str) -> str:
    """``--network`` as HostConfig.NetworkMode records it."""
    if value in ("", DEFAULT, "bridge"):
        return DEFAULT
    if value.startswith("container:") and len(value) == len("container:"):
        raise InvalidArgument("--network: container: needs a container name or ID")
    return value
