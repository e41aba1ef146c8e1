"""A container's files through the API: changes (``docker diff``), export and commit.

Thin calls of the library ``freight diff``/``export``/``commit`` call.
"""

from __future__ import annotations

from freight.api.http import Call, HttpError
from freight.api.streams import answer_file
from freight.builder.container_commit import commit_container
from freight.image import reference
from freight.runtime.changes import diff, export
from freight.runtime.containers import get

# Docker's FilesystemChange kinds.
_KINDS = {"C": 0, "A": 1, "D": 2}


def changes(call: Call) -> None:
    call.json([{"Path": path, "Kind": _KINDS[kind]} for kind, path in diff(call.store, call.args["id"])])


def export_(call: Call) -> None:
    st = call.store
    c = get(st, call.args["id"])  # a missing one is the answer's 404, before the stream
    call.start("application/x-tar")
    out = answer_file(call)
    export(st, c.id, out)
    out.flush()
    call.end()


def commit(call: Call) -> None:
    """``POST /commit``: the body is a container Config (null: the container's own)."""
    container = call.param("container")
    if not container:
        raise HttpError(400, "container is required")
    config = call.body_json()
    if config is not None and not isinstance(config, dict):
        raise HttpError(400, "invalid commit body: a container config object is expected")
    repo, tag = call.param("repo"), call.param("tag")
    tags = [str(reference.parse(f"{repo}:{tag}" if tag else repo))] if repo else []
    image = commit_container(call.store, container, tags, call.query.get("changes", []), config,
                             call.param("comment"), call.param("author"), call.flag("pause", True))
    call.json({"Id": image.id}, 201)


ROUTES = [
    ("GET", "/containers/{id}/changes", changes),
    ("GET", "/containers/{id}/export", export_),
    ("POST", "/commit", commit),
]
