"""``GET /events``: the store's event log as JSON lines, read as ``freight events`` reads it
(``freight.runtime.events.watch``): past events from ``since``, then new ones until ``until``
or until the client goes."""

from __future__ import annotations

from freight.api.containers import filter_specs
from freight.api.http import Call
from freight.runtime.events import watch
from freight.store import events


def stream(call: Call) -> None:
    filters = events.parse_filters(filter_specs(call))
    found = watch(call.store, call.param("since"), call.param("until"), filters, stopped=call.client_gone)
    call.start("application/json")
    for e in found:
        call.send_json(e)
    call.end()


ROUTES = [
    ("GET", "/events", stream),
]
