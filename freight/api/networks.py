"""Network endpoints: thin calls of ``freight.runtime.networks``, the library ``freight network``
calls (the default bridge, ``host`` and ``none`` included)."""

from __future__ import annotations

from freight.api.containers import filter_specs
from freight.api.http import Call, HttpError
from freight.runtime import networks
from freight.runtime.prune import parse_filter_lists, parse_filters

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any


def list_(call: Call) -> None:
    call.json(networks.listing(call.store, parse_filters(filter_specs(call), networks.FILTER_KEYS)))


def inspect(call: Call) -> None:
    call.json(networks.find(call.store, call.args["id"]))


def _body(call: Call) -> dict[str, Any]:
    body = call.body_json() or {}
    if not isinstance(body, dict):
        raise HttpError(400, "invalid JSON: the body must be an object")
    return body


def _object(value: Any) -> dict[str, Any]:
    """A member of the body that is an object, or an empty one (clients send null)."""
    return value if isinstance(value, dict) else {}


def create(call: Call) -> None:
    body = _body(call)
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise HttpError(400, "network name cannot be empty")
    configs = _object(body.get("IPAM")).get("Config") or []
    pools = [(str(c.get("Subnet") or ""), str(c.get("Gateway") or ""))
             for c in (_object(c) for c in (configs if isinstance(configs, list) else []))]
    labels = _object(body.get("Labels"))
    options = _object(body.get("Options"))
    spec = networks.Spec(name, str(body.get("Driver") or "bridge"), [p for p in pools if p != ("", "")],
                         bool(body.get("Internal")), {str(k): str(v) for k, v in labels.items()},
                         {str(k): str(v) for k, v in options.items()}, bool(body.get("Attachable")),
                         bool(body.get("EnableIPv6")))
    network = networks.create(call.store, spec)
    call.json({"Id": network.id, "Warning": ""}, 201)


def remove(call: Call) -> None:
    networks.remove(call.store, call.args["id"])
    call.respond(204)


def connect(call: Call) -> None:
    body = _body(call)
    endpoint = _object(body.get("EndpointConfig"))
    aliases = endpoint.get("Aliases") or []
    wanted = _object(endpoint.get("IPAMConfig"))
    networks.connect(call.store, call.args["id"], str(body.get("Container") or ""), list(aliases),
                     wanted.get("IPv4Address") or "", wanted.get("IPv6Address") or "")
    call.respond(200)


def disconnect(call: Call) -> None:
    body = _body(call)
    networks.disconnect(call.store, call.args["id"], str(body.get("Container") or ""), bool(body.get("Force")))
    call.respond(200)


def prune(call: Call) -> None:
    filters = parse_filter_lists(filter_specs(call), networks.PRUNE_FILTERS)
    call.json({"NetworksDeleted": networks.prune(call.store, filters) or None})


ROUTES = [
    ("GET", "/networks", list_),
    ("POST", "/networks/create", create),
    ("POST", "/networks/prune", prune),
    ("GET", "/networks/{id}", inspect),
    ("DELETE", "/networks/{id}", remove),
    ("POST", "/networks/{id}/connect", connect),
    ("POST", "/networks/{id}/disconnect", disconnect),
]
