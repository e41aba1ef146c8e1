"""An OCI distribution-spec 1.1 registry server (`freight registry serve`).

Endpoints: /v2/, blobs (HEAD/GET with Range, DELETE), uploads (POST, monolithic POST,
cross-repository mount, PATCH chunks, PUT, status, cancel), manifests by tag and digest,
tag listing and the catalog with pagination, and the referrers API. Errors use the spec's
codes and JSON body. Storage is in freight.registry.storage.

Upload bodies are streamed to disk in ~1 MiB pieces that a worker thread hashes and writes
while the event loop keeps reading the socket; blobs are served with sendfile. Nothing is
visible before its digest has been checked.

A client gets the idle timeout to send a request's headers, counted from when it connected
or had its previous answer (aiohttp's keep-alive timer, which runs until the headers are
complete), and may not pause longer than that within a body; a body that keeps coming is
never cut, however long it takes.

Run it with `python -m freight.registry.server --root DIR [--addr HOST:PORT] ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import re
import signal
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import abc as aiohttp_abc
from aiohttp import web

from freight.image.mediatypes import (
    DOCKER_FOREIGN_LAYER,
    INDEXES,
    MANIFESTS,
    OCI_INDEX,
    OCI_LAYER_NONDIST,
    OCI_MANIFEST,
)
from freight.registry.htpasswd import HtpasswdAuth
from freight.registry.storage import (
    UUID_RE,
    RegistryStorage,
    Upload,
    valid_digest,
    valid_name,
    valid_tag,
)

PIECE = 1 << 20
READ_BUFFER = 4 << 20
MAX_MANIFEST = 4 << 20
MAX_MANIFEST_DEPTH = 100  # nesting of a manifest's JSON; real ones stay under 10
DEFAULT_IDLE_TIMEOUT = 30.0
DEFAULT_UPLOAD_TIMEOUT = 3600.0
DEFAULT_MAX_UPLOADS = 10000
REALM = "freight-registry"
SHUTDOWN_GRACE = 1.0  # seconds requests in flight get on SIGTERM; cut uploads never show
CLIENT_GONE = 499  # the status nginx logs for a client that closed mid-request

MANIFEST_TYPES = MANIFESTS | INDEXES
NONDISTRIBUTABLE = (DOCKER_FOREIGN_LAYER, OCI_LAYER_NONDIST)

# code -> (HTTP status, message): the messages are the CNCF registry's.
ERRORS: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),  # spec's; no ACLs here
    "UNSUPPORTED": (405, "The operation is unsupported."),
    "TOOMANYREQUESTS": (429, "too many requests"),
    "PAGINATION_NUMBER_INVALID": (400, "invalid number of results requested"),
}


class RegistryError(Exception):
    """An error answered with the spec's JSON body: {"errors":[{code,message,detail}]}."""

    def __init__(
        self,
        code: str,
        detail: Any = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        default_status, self.message = ERRORS[code]
        super().__init__(f"{code}: {self.message}")
        self.code = code
        self.detail = detail
        self.status = status or default_status
        self.headers = headers or {}

    def response(self) -> web.Response:
        body = {"errors": [{"code": self.code, "message": self.message, "detail": self.detail}]}
        return web.json_response(body, status=self.status, headers=self.headers)


Handler = Callable[..., Awaitable[web.StreamResponse]]


def _header_value(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip()


def _range_header(size: int) -> str:
    """The upload progress as the CNCF registry writes it: "0-<last byte>", "0-0" empty."""
    return f"0-{max(size - 1, 0)}"


def _joined(pieces: list[bytes]) -> bytes:
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _descriptor_digest(value: Any) -> str:
    """The digest of a manifest descriptor, or MANIFEST_INVALID when it is malformed."""
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("mediaType", ""), str)
        or not isinstance(value.get("digest"), str)
        or not valid_digest(value["digest"])
        or not isinstance(value.get("size"), int)
        or value["size"] < 0
    ):
        raise RegistryError("MANIFEST_INVALID", {"descriptor": value})
    return value["digest"]


def _nested_deeper(doc: Any, limit: int) -> bool:
    """True when JSON arrays and objects nest more than limit levels (no recursion)."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in value)
    return False


def parse_manifest(data: bytes, content_type: str) -> tuple[dict[str, Any], str]:
    """The manifest's JSON and media type, checked as far as it goes without storage."""
    too_deep = RegistryError("MANIFEST_INVALID", f"nested deeper than {MAX_MANIFEST_DEPTH}")
    try:
        doc = json.loads(data)
    except ValueError:
        raise RegistryError("MANIFEST_INVALID", "manifest is not valid JSON") from None
    except RecursionError:  # too deep for the parser itself
        raise too_deep from None
    if _nested_deeper(doc, MAX_MANIFEST_DEPTH):
        raise too_deep
    if not isinstance(doc, dict):
        raise RegistryError("MANIFEST_INVALID", "manifest is not a JSON object")
    if doc.get("schemaVersion") != 2:
        raise RegistryError("MANIFEST_INVALID", "schemaVersion must be 2")
    header = _header_value(content_type)
    media_type = doc.get("mediaType")
    if media_type is None:
        if header in MANIFEST_TYPES:
            media_type = header
        else:
            media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    elif header in MANIFEST_TYPES and header != media_type:
        raise RegistryError("MANIFEST_INVALID", "Content-Type does not match mediaType")
    if not isinstance(media_type, str) or media_type not in MANIFEST_TYPES:
        raise RegistryError("MANIFEST_INVALID", f"unsupported manifest media type {media_type!r}")
    return doc, media_type


def manifest_references(doc: dict[str, Any], media_type: str) -> tuple[list[str], list[str]]:
    """(blob digests, manifest digests) a manifest needs in its repository."""
    if media_type in INDEXES:
        manifests = doc.get("manifests")
        if not isinstance(manifests, list):
            raise RegistryError("MANIFEST_INVALID", "an index needs a manifests list")
        return [], [_descriptor_digest(d) for d in manifests]
    layers = doc.get("layers", [])
    if "config" not in doc or not isinstance(layers, list):
        raise RegistryError("MANIFEST_INVALID", "a manifest needs a config and a layers list")
    blobs = [_descriptor_digest(doc["config"])]
    for layer in layers:
        digest = _descriptor_digest(layer)
        if not (layer.get("urls") and layer.get("mediaType", "").startswith(NONDISTRIBUTABLE)):
            blobs.append(digest)
    return blobs, []


def manifest_subject(doc: dict[str, Any]) -> str | None:
    subject = doc.get("subject")
    return None if subject is None else _descriptor_digest(subject)


def paginate(
    items: list[str], request: web.Request, path: str
) -> tuple[list[str], dict[str, str]]:
    """Apply the `last` and `n` parameters; the page and its `Link` header, if any."""
    last = request.query.get("last")
    if last:
        items = [i for i in items if i > last]
    raw = request.query.get("n")
    if raw is None:
        return items, {}
    if not raw.isdigit():
        raise RegistryError("PAGINATION_NUMBER_INVALID", {"n": raw})
    n = int(raw)
    page = items[:n]
    if n == 0 or len(items) <= n:
        return page, {}
    link = f'<{path}?n={n}&last={quote(page[-1], safe="")}>; rel="next"'
    return page, {"Link": link}


class Registry:
    """The request handlers, bound to one storage root."""

    def __init__(
        self,
        storage: RegistryStorage,
        auth: HtpasswdAuth | None = None,
        read_only: bool = False,
        max_uploads: int = DEFAULT_MAX_UPLOADS,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        self.storage = storage
        self.auth = auth
        self.read_only = read_only
        self.max_uploads = max_uploads
        self.idle_timeout = idle_timeout
        self.routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
            (re.compile(r"/v2/?"), {"GET": self.base}),
            (re.compile(r"/v2/_catalog"), {"GET": self.catalog}),
            (re.compile(r"/v2/(?P<name>.+)/tags/list"), {"GET": self.tag_list}),
            (
                re.compile(r"/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)"),
                {
                    "GET": self.get_manifest,
                    "PUT": self.put_manifest,
                    "DELETE": self.delete_manifest,
                },
            ),
            (re.compile(r"/v2/(?P<name>.+)/blobs/uploads/?"), {"POST": self.start_upload}),
            (
                re.compile(r"/v2/(?P<name>.+)/blobs/uploads/(?P<upload_id>[^/]+)"),
                {
                    "GET": self.upload_status,
                    "PATCH": self.patch_upload,
                    "PUT": self.finish_upload,
                    "DELETE": self.cancel_upload,
                },
            ),
            (
                re.compile(r"/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)"),
                {"GET": self.get_blob, "DELETE": self.delete_blob},
            ),
            (re.compile(r"/v2/(?P<name>.+)/referrers/(?P<digest>[^/]+)"), {"GET": self.referrers}),
        ]

    # dispatch ------------------------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except RegistryError as err:
            return err.response()
        except ConnectionError:
            return web.Response(status=CLIENT_GONE)  # logged; the client cannot read it
        except OSError as err:  # the storage failed (disk full, permissions)
            print(f"{request.method} {request.path}: {err}", file=sys.stderr)
            body = {"errors": [{"code": "UNKNOWN", "message": "unknown error",
                                "detail": err.strerror or str(err)}]}
            return web.json_response(body, status=500)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        for pattern, methods in self.routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if self.auth is not None and not await self.auth.check(
                request.headers.get("Authorization")
            ):
                raise RegistryError(
                    "UNAUTHORIZED", headers={"WWW-Authenticate": f'Basic realm="{REALM}"'}
                )
            method = "GET" if request.method == "HEAD" else request.method  # HEAD: GET's headers
            handler = methods.get(method)
            writes = method != "GET"
            if handler is None or (writes and self.read_only):
                allowed = [m for m in methods if not (self.read_only and m != "GET")]
                allowed += ["HEAD"] if "GET" in methods else []
                raise RegistryError(
                    "UNSUPPORTED", {"method": request.method}, headers={"Allow": ", ".join(allowed)}
                )
            args = match.groupdict()
            if "name" in args and not valid_name(args["name"]):
                raise RegistryError("NAME_INVALID", {"name": args["name"]})
            if "digest" in args and not valid_digest(args["digest"]):
                raise RegistryError("DIGEST_INVALID", {"digest": args["digest"]})
            return await handler(request, **args)
        raise web.HTTPNotFound(text="404 page not found\n")

    # base, catalog, tags -------------------------------------------------------------------

    async def base(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    async def catalog(self, request: web.Request) -> web.StreamResponse:
        repos = await asyncio.to_thread(self.storage.repositories)
        page, headers = paginate(repos, request, "/v2/_catalog")
        return web.json_response({"repositories": page}, headers=headers)

    async def tag_list(self, request: web.Request, name: str) -> web.StreamResponse:
        tags = self.storage.tags(name)
        if tags is None:
            raise RegistryError("NAME_UNKNOWN", {"name": name})
        page, headers = paginate(tags, request, f"/v2/{name}/tags/list")
        return web.json_response({"name": name, "tags": page}, headers=headers)

    # blobs ---------------------------------------------------------------------------------

    async def get_blob(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        if not self.storage.has_blob(name, digest):
            raise RegistryError("BLOB_UNKNOWN", {"digest": digest})
        headers = {
            "Docker-Content-Digest": digest,
            "Content-Type": "application/octet-stream",
            "Cache-Control": "max-age=31536000",
        }
        return web.FileResponse(self.storage.blob_path(digest), headers=headers)

    async def delete_blob(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        if not self.storage.unlink_blob(name, digest):
            raise RegistryError("BLOB_UNKNOWN", {"digest": digest})
        return web.Response(status=202, headers={"Docker-Content-Digest": digest})

    # uploads -------------------------------------------------------------------------------

    def _upload_headers(self, name: str, upload: Upload) -> dict[str, str]:
        return {
            "Location": f"/v2/{name}/blobs/uploads/{upload.id}",
            "Docker-Upload-UUID": upload.id,
            "Range": _range_header(upload.size),
        }

    @staticmethod
    def _blob_created(name: str, digest: str) -> web.Response:
        headers = {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}
        return web.Response(status=201, headers=headers)

    def _new_upload(self, name: str) -> Upload:
        if len(self.storage.uploads) >= self.max_uploads:
            raise RegistryError("TOOMANYREQUESTS", {"uploads": len(self.storage.uploads)})
        return self.storage.new_upload(name)

    def _find_upload(self, name: str, upload_id: str) -> Upload:
        upload = self.storage.get_upload(name, upload_id) if UUID_RE.match(upload_id) else None
        if upload is None:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", {"uuid": upload_id})
        return upload

    def _query_digest(self, request: web.Request) -> str:
        digest = request.query.get("digest", "")
        if not valid_digest(digest):
            raise RegistryError("DIGEST_INVALID", {"digest": digest})
        return digest

    async def start_upload(self, request: web.Request, name: str) -> web.StreamResponse:
        mount, source = request.query.get("mount"), request.query.get("from")
        if mount is not None:
            if not valid_digest(mount):
                raise RegistryError("DIGEST_INVALID", {"digest": mount})
            if source and valid_name(source) and self.storage.mount_blob(name, mount, source):
                return self._blob_created(name, mount)
        if "digest" in request.query:
            digest = self._query_digest(request)
            upload = self._new_upload(name)
            try:
                await self._receive(request, upload)
            except BaseException:
                self.storage.drop_upload(upload)
                raise
            return await self._commit(name, upload, digest)
        upload = self._new_upload(name)
        return web.Response(status=202, headers=self._upload_headers(name, upload))

    async def upload_status(
        self, request: web.Request, name: str, upload_id: str
    ) -> web.StreamResponse:
        upload = self._find_upload(name, upload_id)
        return web.Response(status=204, headers=self._upload_headers(name, upload))

    async def cancel_upload(
        self, request: web.Request, name: str, upload_id: str
    ) -> web.StreamResponse:
        upload = self._find_upload(name, upload_id)
        async with upload.lock:
            self.storage.drop_upload(upload)
        return web.Response(status=204)

    async def patch_upload(
        self, request: web.Request, name: str, upload_id: str
    ) -> web.StreamResponse:
        upload = self._find_upload(name, upload_id)
        async with upload.lock:
            self._check_upload_alive(upload)
            self._check_content_range(request, upload)
            await self._receive(request, upload)
        return web.Response(status=202, headers=self._upload_headers(name, upload))

    async def finish_upload(
        self, request: web.Request, name: str, upload_id: str
    ) -> web.StreamResponse:
        upload = self._find_upload(name, upload_id)
        digest = self._query_digest(request)
        async with upload.lock:
            self._check_upload_alive(upload)
            self._check_content_range(request, upload)
            await self._receive(request, upload)
            return await self._commit(name, upload, digest)

    def _check_upload_alive(self, upload: Upload) -> None:
        """A request that waited for the session's lock may find it finished by another
        request, or its folder removed as idle by another server on this storage."""
        if upload.id not in self.storage.uploads or self.storage.upload_gone(upload):
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", {"uuid": upload.id})

    def _check_content_range(self, request: web.Request, upload: Upload) -> None:
        """A chunk must start where the upload stands: 416 otherwise, as the spec says."""
        header = request.headers.get("Content-Range")
        if header is None:
            return
        match = re.fullmatch(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?", header.strip())
        if match is None:
            raise RegistryError("BLOB_UPLOAD_INVALID", {"Content-Range": header})
        start, end = int(match[1]), int(match[2])
        if start != upload.size or end < start:
            raise RegistryError(
                "BLOB_UPLOAD_INVALID",
                {"Content-Range": header, "size": upload.size},
                status=416,
                headers=self._upload_headers(upload.repo, upload),
            )
        length = request.content_length
        if length is not None and length != end - start + 1:
            raise RegistryError("SIZE_INVALID", {"Content-Range": header, "Content-Length": length})

    async def _body(self, request: web.Request) -> AsyncIterator[bytes]:
        """The request body as it arrives; 408 when the client pauses past the idle timeout."""
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    chunk = await request.content.readany()
            except TimeoutError:
                raise web.HTTPRequestTimeout(text="no data within the idle timeout\n") from None
            if not chunk:
                return
            yield chunk

    async def _receive(self, request: web.Request, upload: Upload) -> None:
        """Stream the request body onto the upload: hash and write in a worker thread."""
        loop = asyncio.get_running_loop()
        upload.busy += 1
        fd = upload.open()
        pending: asyncio.Future[None] | None = None
        try:
            pieces: list[bytes] = []
            gathered = 0
            async for chunk in self._body(request):
                pieces.append(chunk)
                gathered += len(chunk)
                if gathered >= PIECE:
                    if pending is not None:
                        await pending
                    pending = loop.run_in_executor(None, upload.append, fd, _joined(pieces))
                    pieces, gathered = [], 0
            if pending is not None:
                await pending
                pending = None
            if pieces:
                upload.append(fd, _joined(pieces))
        finally:
            if pending is not None:
                await asyncio.wait([pending])
            os.close(fd)
            upload.busy -= 1

    async def _commit(self, name: str, upload: Upload, digest: str) -> web.StreamResponse:
        upload.busy += 1  # not expired while it commits; the commit ends it either way
        committed = await asyncio.to_thread(self.storage.commit_upload, upload, digest)
        if not committed:
            raise RegistryError("DIGEST_INVALID", {"digest": digest})
        return self._blob_created(name, digest)

    # manifests -----------------------------------------------------------------------------

    def _check_reference(self, ref: str, writing: bool) -> None:
        if ":" in ref:
            if not valid_digest(ref):
                raise RegistryError("DIGEST_INVALID", {"digest": ref})
        elif not valid_tag(ref):
            code = "MANIFEST_INVALID" if writing else "MANIFEST_UNKNOWN"
            raise RegistryError(code, {"tag": ref})

    async def get_manifest(self, request: web.Request, name: str, ref: str) -> web.StreamResponse:
        self._check_reference(ref, writing=False)
        digest = self.storage.resolve(name, ref)
        manifest = self.storage.get_manifest(name, digest) if digest else None
        if manifest is None:
            raise RegistryError("MANIFEST_UNKNOWN", {"reference": ref})
        headers = {"Docker-Content-Digest": manifest.digest, "ETag": f'"{manifest.digest}"'}
        return web.Response(body=manifest.data, content_type=manifest.media_type, headers=headers)

    async def _read_manifest_body(self, request: web.Request) -> bytes:
        if (request.content_length or 0) > MAX_MANIFEST:
            raise RegistryError("SIZE_INVALID", {"limit": MAX_MANIFEST}, status=413)
        pieces: list[bytes] = []
        size = 0
        async for chunk in self._body(request):
            size += len(chunk)
            if size > MAX_MANIFEST:
                raise RegistryError("SIZE_INVALID", {"limit": MAX_MANIFEST}, status=413)
            pieces.append(chunk)
        return b"".join(pieces)

    async def put_manifest(self, request: web.Request, name: str, ref: str) -> web.StreamResponse:
        self._check_reference(ref, writing=True)
        data = await self._read_manifest_body(request)
        doc, media_type = parse_manifest(data, request.headers.get("Content-Type", ""))
        blobs, manifests = manifest_references(doc, media_type)
        subject = manifest_subject(doc)
        for digest in blobs:
            if not self.storage.has_blob(name, digest):
                raise RegistryError("MANIFEST_BLOB_UNKNOWN", {"digest": digest})
        for digest in manifests:
            if not self.storage.has_manifest(name, digest):
                raise RegistryError("MANIFEST_BLOB_UNKNOWN", {"digest": digest})
        tag = None if ":" in ref else ref
        algorithm = "sha256" if tag is not None else ref.split(":", 1)[0]
        digest = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
        if tag is None and digest != ref:
            raise RegistryError("DIGEST_INVALID", {"digest": ref, "computed": digest})
        await asyncio.to_thread(
            self.storage.put_manifest, name, digest, data, media_type, tag, subject
        )
        headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
        if subject is not None:
            headers["OCI-Subject"] = subject
        return web.Response(status=201, headers=headers)

    async def delete_manifest(
        self, request: web.Request, name: str, ref: str
    ) -> web.StreamResponse:
        self._check_reference(ref, writing=False)
        if ":" not in ref:
            if not self.storage.delete_tag(name, ref):
                raise RegistryError("MANIFEST_UNKNOWN", {"reference": ref})
            return web.Response(status=202)
        manifest = self.storage.get_manifest(name, ref)
        if manifest is None:
            raise RegistryError("MANIFEST_UNKNOWN", {"reference": ref})
        subject = manifest_subject(json.loads(manifest.data))
        self.storage.delete_manifest(name, ref, subject)
        return web.Response(status=202)

    # referrers -----------------------------------------------------------------------------

    def _referrer_descriptor(self, name: str, digest: str) -> dict[str, Any] | None:
        manifest = self.storage.get_manifest(name, digest)
        if manifest is None:
            return None
        doc = json.loads(manifest.data)
        descriptor: dict[str, Any] = {
            "mediaType": manifest.media_type,
            "digest": digest,
            "size": len(manifest.data),
        }
        artifact_type = doc.get("artifactType")
        if artifact_type is None and manifest.media_type not in INDEXES:
            artifact_type = doc.get("config", {}).get("mediaType")
        if artifact_type:
            descriptor["artifactType"] = artifact_type
        if doc.get("annotations"):
            descriptor["annotations"] = doc["annotations"]
        return descriptor

    async def referrers(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        wanted = request.query.get("artifactType")
        found = [self._referrer_descriptor(name, d) for d in self.storage.referrers(name, digest)]
        descriptors = [d for d in found if d is not None]
        headers = {}
        if wanted is not None:
            descriptors = [d for d in descriptors if d.get("artifactType") == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
        return web.Response(
            body=json.dumps(index).encode(), content_type=OCI_INDEX, headers=headers
        )


class AccessLogger(aiohttp_abc.AbstractAccessLogger):
    """One line per request on stderr: client, method, path, status, bytes, duration."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        received = request.content.total_bytes if request.body_exists else 0
        self.logger.info(
            '%s "%s %s" %d in=%d out=%d %.1fms',
            request.remote,
            request.method,
            request.path_qs,
            response.status,
            received,
            response.content_length if response.content_length is not None else 0,
            time * 1000,
        )


def _access_log() -> logging.Logger:
    logger = logging.getLogger("freight.registry.access")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


async def _api_version_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Docker-Distribution-API-Version"] = "registry/2.0"


async def _sweep_uploads(storage: RegistryStorage, timeout: float) -> None:
    """End upload sessions idle for longer than timeout, and remove upload folders idle as
    long that are no session of this server's (a crashed server's, or those of another
    server on this storage): at start, then every timeout/2 (at least once a minute)."""
    while True:
        storage.expire_uploads(timeout)
        await asyncio.to_thread(storage.remove_idle_folders, timeout, set(storage.uploads))
        await asyncio.sleep(min(60.0, max(0.1, timeout / 2)))


def make_app(
    root: Path,
    htpasswd: Path | None = None,
    read_only: bool = False,
    upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT,
    max_uploads: int = DEFAULT_MAX_UPLOADS,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> web.Application:
    """The registry as an aiohttp application."""
    storage = RegistryStorage(root)
    auth = HtpasswdAuth(htpasswd) if htpasswd is not None else None
    registry = Registry(storage, auth, read_only, max_uploads, idle_timeout)
    app = web.Application(client_max_size=MAX_MANIFEST)
    app.router.add_route("*", "/{tail:.*}", registry.dispatch)
    app.on_response_prepare.append(_api_version_header)

    async def lifecycle(app: web.Application) -> Any:
        sweeper = asyncio.create_task(_sweep_uploads(storage, upload_timeout))
        yield
        sweeper.cancel()

    app.cleanup_ctx.append(lifecycle)
    return app


def parse_addr(addr: str) -> tuple[str | None, int]:
    """"HOST:PORT", ":PORT" (every address) or "[V6]:PORT" -> (host or None, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid listen address {addr!r}: want HOST:PORT (port 0-65535)")
    host = host.strip("[]")
    return (host or None), int(port)


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def _serve(
    app: web.Application, host: str | None, port: int, context: Any, idle_timeout: float
) -> None:
    runner = web.AppRunner(
        app,
        access_log_class=AccessLogger,
        access_log=_access_log(),
        keepalive_timeout=idle_timeout,  # also bounds the wait for a request's headers
        read_bufsize=READ_BUFFER,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_GRACE,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=context, reuse_address=True)
        await site.start()
        scheme = "https" if context is not None else "http"
        print(f"registry listening on {scheme}://{host or '*'}:{port}", file=sys.stderr)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(
    addr: str = "127.0.0.1:5000",
    *,
    root: Path,
    htpasswd: Path | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    read_only: bool = False,
    upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT,
    max_uploads: int = DEFAULT_MAX_UPLOADS,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> None:
    """Serve the registry on addr until SIGINT or SIGTERM."""
    host, port = parse_addr(addr)
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    if not idle_timeout > 0:
        raise ValueError(f"--idle-timeout must be more than 0, not {idle_timeout}")
    context = tls_context(tls_cert, tls_key) if tls_cert and tls_key else None
    app = make_app(root, htpasswd, read_only, upload_timeout, max_uploads, idle_timeout)
    asyncio.run(_serve(app, host, port, context, idle_timeout))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `registry serve` options, shared by this module's entry point and the CLI."""
    parser.add_argument("--addr", default="127.0.0.1:5000", help="HOST:PORT to listen on")
    parser.add_argument("--root", type=Path, required=True, help="storage directory")
    parser.add_argument("--htpasswd", type=Path, help="require Basic auth (bcrypt entries)")
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", type=Path, help="private key of --tls-cert")
    parser.add_argument("--read-only", action="store_true", help="refuse every write")
    parser.add_argument(
        "--upload-timeout",
        type=float,
        default=DEFAULT_UPLOAD_TIMEOUT,
        help="seconds after which an idle upload session is removed",
    )
    parser.add_argument(
        "--max-uploads",
        type=int,
        default=DEFAULT_MAX_UPLOADS,
        help="open upload sessions allowed at once (TOOMANYREQUESTS beyond)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        help="seconds a client has to send a request's headers (from connecting or its "
        "last answer) and may pause within a body; idle connections close after it",
    )


def run_from_args(args: argparse.Namespace) -> None:
    serve(
        args.addr,
        root=args.root,
        htpasswd=args.htpasswd,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        read_only=args.read_only,
        upload_timeout=args.upload_timeout,
        max_uploads=args.max_uploads,
        idle_timeout=args.idle_timeout,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m freight.registry.server")
    add_arguments(parser)
    run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    main()
