"""Network endpoints: the modes a container can have (``bridge``: a private namespace,
``host``, ``none``), listed and inspected; freight has no user-defined networks yet."""

from __future__ import annotations

from freight.api.http import Call
from freight.errors import NotFound

_NETWORKS = {name: {"Name": name, "Id": name, "Created": "0001-01-01T00:00:00Z", "Scope": "local",
                    "Driver": driver, "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None,
                                                                   "Config": []},
                    "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
                    "ConfigOnly": False, "Containers": {}, "Options": {}, "Labels": {}}
             for name, driver in (("bridge", "bridge"), ("host", "host"), ("none", "null"))}


def list_(call: Call) -> None:
    call.json(list(_NETWORKS.values()))


def inspect(call: Call) -> None:
    name = call.args["id"]
    if name not in _NETWORKS:
        raise NotFound(f"network {name} not found")
    call.json(_NETWORKS[name])


def prune(call: Call) -> None:
    call.json({"NetworksDeleted": None})


ROUTES = [
    ("GET", "/networks", list_),
    ("POST", "/networks/prune", prune),
    ("GET", "/networks/{id}", inspect),
]
