"""Volume endpoints: list, create, inspect, remove, prune."""

from __future__ import annotations

from freight.api.containers import filter_specs
from freight.api.http import Call, HttpError
from freight.runtime.prune import parse_filters, prune_volumes
from freight.runtime.volumes import create_volume, get_volume, list_volumes, remove_volumes, select_volumes


def list_(call: Call) -> None:
    st = call.store
    filters = parse_filters(filter_specs(call), ("dangling", "name", "label", "driver"))
    call.json({"Volumes": select_volumes(st, list_volumes(st), filters), "Warnings": []})


def create(call: Call) -> None:
    body = call.body_json() or {}
    if not isinstance(body, dict):
        raise HttpError(400, "invalid volume configuration")
    if body.get("DriverOpts"):
        raise HttpError(400, "driver options are not supported by the local driver here")
    call.json(create_volume(call.store, body.get("Name") or None, body.get("Labels") or None,
                            body.get("Driver") or "local"), 201)


def inspect(call: Call) -> None:
    call.json(get_volume(call.store, call.args["name"]))


def remove(call: Call) -> None:
    remove_volumes(call.store, call.args["name"], call.flag("force"))
    call.respond(204)


def prune(call: Call) -> None:
    filters = parse_filters(filter_specs(call), ("label", "all"))
    everything = filters.pop("all", "").lower() in ("true", "1")
    removed, reclaimed = prune_volumes(call.store, everything, filters)
    call.json({"VolumesDeleted": removed or None, "SpaceReclaimed": reclaimed})


ROUTES = [
    ("GET", "/volumes", list_),
    ("POST", "/volumes/create", create),
    ("POST", "/volumes/prune", prune),
    ("GET", "/volumes/{name}", inspect),
    ("DELETE", "/volumes/{name}", remove),
]
