"""``POST /build``: the classic builder's endpoint (``DOCKER_BUILDKIT=0``), over freight's builder.

The context is the request's tar body; the answer streams ``{"stream": ...}``
lines in the classic builder's style (``builder.classic``: ``Step 1/3 : FROM ...``,
`` ---> <id>``, ``Successfully built <id>``, by which docker-py finds the image,
``Successfully tagged <name>``), then ``{"aux": {"ID": ...}}``; a failure ends it
with ``{"error": ..., "errorDetail": {"message": ...}}``.
"""

from __future__ import annotations

import io

from freight.api.http import Call, HttpError
from freight.api.streams import CallWriter, body_file
from freight.builder.cache import prune_cache
from freight.builder.engine import build as build_image
from freight.builder.engine import error_report
from freight.builder.state import BuildError, BuildOptions, RunFailed
from freight.image import reference

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from typing_extensions import Buffer


class _StreamLines(CallWriter):
    """The build's progress as ``{"stream": ...}`` messages, one a line, as Docker sends them
    (docker-py finds ``Successfully built <id>`` only at the start of a message)."""

    def write(self, data: Buffer, /) -> int:
        chunk = bytes(data)
        for line in chunk.decode("utf-8", "replace").splitlines(keepends=True):
            self._call.send_json({"stream": line})
        return len(chunk)


def _progress(call: Call) -> io.TextIOWrapper:
    """A text stream over ``_StreamLines``, sent a line at a time (the build's progress
    writes under its own lock)."""
    return io.TextIOWrapper(io.BufferedWriter(_StreamLines(call)), encoding="utf-8", line_buffering=True)


def _mapping(call: Call, name: str) -> dict[str, str]:
    value = call.json_param(name) or {}
    if not isinstance(value, dict):
        raise HttpError(400, f"invalid {name} parameter")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _options(call: Call) -> BuildOptions:
    cache_from = call.json_param("cachefrom") or []
    if not isinstance(cache_from, list):
        raise HttpError(400, "invalid cachefrom parameter")
    tags = call.query.get("t", [])
    for tag in tags:
        reference.parse(tag)
    network = call.param("networkmode") or "default"
    return BuildOptions(
        context="-", dockerfile=call.param("dockerfile") or None, tags=tags, build_args=_mapping(call, "buildargs"),
        target=call.param("target"), no_cache=call.flag("nocache"), pull=call.flag("pull"),
        labels=_mapping(call, "labels"), platform=call.param("platform"),
        progress="quiet" if call.flag("q") else "classic", network="default" if network == "bridge" else network,
        cache_from=[str(c) for c in cache_from], stdin=body_file(call), out=_progress(call))


def _failure(err: BuildError) -> dict[str, Any]:
    """The stream's last message: a RUN that failed as the classic builder says it, with
    the code the docker CLI exits with; anything else with the build's error report."""
    if isinstance(err, RunFailed):
        message = f"The command '{' '.join(err.command)}' returned a non-zero code: {err.code}"
        return {"errorDetail": {"code": err.code, "message": message}, "error": message}
    message = error_report(err).strip()
    return {"errorDetail": {"message": message}, "error": message}


def build(call: Call) -> None:
    opts = _options(call)
    call.start("application/json")
    try:
        result = build_image(call.store, opts)
    except BuildError as err:
        call.send_json(_failure(err))
        call.end()
        return
    call.send_json({"aux": {"ID": result.image_id}})
    if call.flag("q"):
        call.send_json({"stream": result.image_id + "\n"})
    call.end()


def prune(call: Call) -> None:
    """``POST /build/prune``: the build cache (``all``: every entry)."""
    reclaimed = prune_cache(call.store, call.flag("all"))
    report: dict[str, Any] = {"CachesDeleted": None, "SpaceReclaimed": reclaimed}
    call.json(report)


ROUTES = [
    ("POST", "/build", build),
    ("POST", "/build/prune", prune),
]
