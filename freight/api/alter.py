"""Container endpoints that change a container in place: pause and unpause, rename, update.

Thin calls of the library ``freight pause``/``rename``/``update`` call; their refusals
carry Docker's statuses (409 for a container that is not running, already paused or
not paused, or a name in use; 404 for a missing container).
"""

from __future__ import annotations

from freight.api.http import Call, HttpError
from freight.runtime.pause import pause as pause_container
from freight.runtime.pause import unpause as unpause_container
from freight.runtime.rename import rename as rename_container
from freight.runtime.restart import POLICIES
from freight.runtime.update import UPDATABLE
from freight.runtime.update import update as update_container

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any


def pause(call: Call) -> None:
    pause_container(call.store, call.args["id"])
    call.respond(204)


def unpause(call: Call) -> None:
    unpause_container(call.store, call.args["id"])
    call.respond(204)


def rename(call: Call) -> None:
    name = call.param("name")
    if not name:
        raise HttpError(400, "name is required")
    rename_container(call.store, call.args["id"], name)
    call.respond(204)


def update_changes(body: dict[str, Any]) -> dict[str, Any]:
    """The HostConfig changes of Docker's UpdateConfig body (its Resources and RestartPolicy).
    Clients send every field, zero for the ones they leave alone (a null PidsLimit)."""
    changes = {}
    for key, value in body.items():
        if key == "RestartPolicy":
            if (value or {}).get("Name"):
                if value["Name"] not in POLICIES:
                    raise HttpError(400, f"invalid restart policy: unknown policy '{value['Name']}'")
                changes[key] = {"Name": value["Name"], "MaximumRetryCount": int(value.get("MaximumRetryCount") or 0)}
        elif value in (None, 0, "", [], {}, False) and not (key == "PidsLimit" and value == 0):
            continue
        elif key in UPDATABLE:
            changes[key] = value
        else:
            raise HttpError(400, f"updating {key} is not supported")
    return changes


def update(call: Call) -> None:
    body = call.body_json() or {}
    if not isinstance(body, dict):
        raise HttpError(400, "invalid update body: a JSON object is expected")
    update_container(call.store, call.args["id"], update_changes(body))
    call.json({"Warnings": []})


ROUTES = [
    ("POST", "/containers/{id}/pause", pause),
    ("POST", "/containers/{id}/unpause", unpause),
    ("POST", "/containers/{id}/rename", rename),
    ("POST", "/containers/{id}/update", update),
]
