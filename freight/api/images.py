"""Image endpoints: list, pull and import (``images/create``), push, tag, remove, inspect,
history, prune, save (``get``), load, search.

Pull and push answer with Docker's progress stream: one JSON object per line
(``{"status": ..., "id": ...}``), an ``{"error": ..., "errorDetail": ...}`` line
for a failure once the stream began.
"""

from __future__ import annotations

import base64
import json
import threading

from freight.api import summaries
from freight.api.containers import filter_specs
from freight.api.http import Call, HttpError
from freight.api.streams import answer_file, body_file
from freight.archive.load import load as load_archive
from freight.archive.save import save
from freight.image import reference
from freight.registry.auth import Credentials
from freight.registry.progress import Reporter
from freight.registry.pull import pull
from freight.registry.push import push as push_image
from freight.store.filters import matches_reference, parse_image_filters, select_images
from freight.store.image_edits import remove_image, tag_image
from freight.store.importer import import_rootfs
from freight.store.inspect import image_history, image_inspect
from freight.store.prune import prune_images

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store.images import Image


class JsonProgress(Reporter):
    """Docker's progress stream (pull, push) on a streamed answer; called from transfer threads."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self._lock = threading.Lock()

    def message(self, text: str) -> None:
        self._send({"status": text})

    def status(self, item: str, text: str, total: int | None = None) -> None:
        self._send({"status": text, "progressDetail": {}, "id": item})

    def _send(self, value: dict[str, object]) -> None:
        with self._lock:
            self._call.send_json(value)


def credentials(call: Call) -> Credentials | None:
    """``X-Registry-Auth``: base64url JSON ``{"username", "password", ...}`` (None: the stored ones)."""
    header = call.headers.get("x-registry-auth", "")
    if not header:
        return None
    try:
        auth = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except ValueError:
        raise HttpError(400, "invalid X-Registry-Auth header") from None
    if not isinstance(auth, dict) or not (auth.get("username") or auth.get("identitytoken")):
        return None
    return Credentials(auth.get("username") or "<token>", auth.get("password") or auth.get("identitytoken") or "")


def _matches(image: Image, patterns: list[str]) -> bool:
    for tag in image.repo_tags:
        ref = reference.parse_normalized(tag)
        if matches_reference(ref.familiar_repository, ref.tag or "", patterns):
            return True
    return False


def list_(call: Call) -> None:
    st = call.store
    filters = parse_image_filters(filter_specs(call))
    images = select_images(st, st.images.all(), filters)
    if filters.get("reference"):
        images = [i for i in images if _matches(i, filters["reference"])]
    call.json([summaries.image(i) for i in images])


def create(call: Call) -> None:
    """``POST /images/create``: pull ``fromImage`` (with ``tag``), or import ``fromSrc=-``."""
    st = call.store
    source = call.param("fromSrc")
    image = call.param("fromImage")
    tag = call.param("tag")
    if not source and not image:
        raise HttpError(400, "fromImage or fromSrc is required")
    if source:
        if source != "-":
            raise HttpError(400, "only fromSrc=- (the request body) is supported")
        repo = call.param("repo")
        tags = [f"{repo}:{tag}" if tag else repo] if repo else []  # the CLI sends REPO[:TAG] as repo
        call.start("application/json")
        imported = import_rootfs(st, body_file(call), tags)
        call.send_json({"status": imported.id})
        call.end()
        return
    name = image
    if tag:
        name = f"{image}@{tag}" if tag.startswith("sha256:") else f"{image}:{tag}"
    ref = reference.parse(name)
    auth = credentials(call)
    call.start_at_first_send("application/json")
    pull(st, str(ref), call.param("platform") or None, JsonProgress(call), credentials=auth)
    call.end()


def push(call: Call) -> None:
    st = call.store
    name = call.args["name"]
    tag = call.param("tag")
    target = f"{name}:{tag}" if tag else name
    auth = credentials(call)
    call.start_at_first_send("application/json")
    progress = JsonProgress(call)
    digest = push_image(st, target, progress=progress, credentials=auth)
    call.send_json({"progressDetail": {}, "aux": {"Tag": tag or "latest", "Digest": digest}})
    call.end()


def tag(call: Call) -> None:
    st = call.store
    image = st.resolve_image(call.args["name"])
    repo = call.param("repo")
    if not repo:
        raise HttpError(400, "repository name is required")
    tag_name = call.param("tag") or "latest"
    tag_image(st, image.id, reference.parse(f"{repo}:{tag_name}"))
    call.respond(201)


def remove(call: Call) -> None:
    st = call.store
    removed = remove_image(st, call.args["name"], force=call.flag("force"))
    st.gc(wait=False)
    call.json([{kind: what} for kind, what in removed])


def inspect(call: Call) -> None:
    st = call.store
    call.json(image_inspect(st, st.resolve_image(call.args["name"])))


def history(call: Call) -> None:
    st = call.store
    rows = image_history(st, st.resolve_image(call.args["name"]))
    call.json([{**row, "Created": summaries.unix_time(str(row.get("Created") or ""))} for row in rows])


def prune(call: Call) -> None:
    filters = dict(spec.partition("=")[::2] for spec in filter_specs(call))
    dangling = filters.get("dangling", "true").lower() in ("true", "1")
    report = prune_images(call.store, all_unused=not dangling)
    call.json({"ImagesDeleted": [{kind: what} for kind, what in report.images] or None,
               "SpaceReclaimed": report.reclaimed})


def get_many(call: Call) -> None:
    names = call.query.get("names", [])
    if not names:
        raise HttpError(400, "no images named")
    _save(call, names)


def get_one(call: Call) -> None:
    _save(call, [call.args["name"]])


def _save(call: Call, names: list[str]) -> None:
    st = call.store
    for name in names:
        st.resolve_image(name)  # a missing one is the answer's 404, before the stream
    call.start("application/x-tar")
    out = answer_file(call)
    save(st, names, out)
    out.flush()
    call.end()


def load(call: Call) -> None:
    st = call.store
    loaded = load_archive(st, body_file(call))
    call.start("application/json")
    for image in loaded:
        for name in image.tags or [image.id]:
            text = f"Loaded image: {name}" if name != image.id else f"Loaded image ID: {name}"
            call.send_json({"stream": text + "\n"})
    call.end()


def search(call: Call) -> None:
    call.json([])


ROUTES = [
    ("GET", "/images/json", list_),
    ("POST", "/images/create", create),
    ("POST", "/images/load", load),
    ("POST", "/images/prune", prune),
    ("GET", "/images/search", search),
    ("GET", "/images/get", get_many),
    ("GET", "/images/{name*}/json", inspect),
    ("GET", "/images/{name*}/history", history),
    ("GET", "/images/{name*}/get", get_one),
    ("POST", "/images/{name*}/push", push),
    ("POST", "/images/{name*}/tag", tag),
    ("DELETE", "/images/{name*}", remove),
]
