"""The Docker Engine API's routes: method and path pattern to handler.

A pattern's ``{name}`` matches one path segment, ``{name*}`` the rest of the path
(image names hold slashes). What no route matches gets Docker's 404
``page not found``, whatever the method (as dockerd's router answers).
"""

from __future__ import annotations

import re

from freight.api import alter, build, changes, containers, events, execs, images, networks, system, volumes, websocket
from freight.api.http import Call, HttpError

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable

    Handler = Callable[[Call], None]

_TABLE: list[tuple[str, str, Handler]] = [
    *system.ROUTES, *events.ROUTES, *containers.ROUTES, *alter.ROUTES, *changes.ROUTES, *execs.ROUTES,
    *images.ROUTES, *build.ROUTES, *volumes.ROUTES, *networks.ROUTES, *websocket.ROUTES,
]


def _compile(pattern: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\*\}", r"(?P<\1>.+)", pattern)
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
    return re.compile(regex)


_ROUTES = [(method, _compile(pattern), handler) for method, pattern, handler in _TABLE if "{" in pattern]
_FIXED = {(method, pattern): handler for method, pattern, handler in _TABLE if "{" not in pattern}


def find(call: Call) -> Handler:
    """The handler for the call's method and path (its path arguments set on the call)."""
    method = "GET" if call.method == "HEAD" else call.method
    fixed = _FIXED.get((call.method, call.path)) or _FIXED.get((method, call.path))
    if fixed is not None:  # most calls (``_ping``, ``containers/json``...): no pattern to try
        return fixed
    for route_method, regex, handler in _ROUTES:
        if route_method not in (method, call.method):
            continue
        match = regex.fullmatch(call.path)
        if match is not None:
            call.args = match.groupdict()
            return handler
    raise HttpError(404, "page not found")
