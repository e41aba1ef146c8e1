"""The registry server's request handlers: the distribution spec's endpoints over ``RegistryStorage``.

Endpoints: /v2/, blobs (HEAD/GET with Range, DELETE), uploads (POST, monolithic POST,
cross-repository mount, PATCH chunks, PUT, status, cancel), manifests by tag and digest,
tag listing and the catalog with pagination, and the referrers API. Errors use the spec's
codes and JSON body (``freight.registry.apierrors``).

Upload bodies are streamed to disk in ~1 MiB pieces that a worker thread hashes and writes
while the event loop keeps reading the socket; blobs are served with sendfile. Nothing is
visible before its digest has been checked. A client may not pause longer than the idle
timeout within a body; a body that keeps coming is never cut, however long it takes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from freight.image.mediatypes import INDEXES, OCI_INDEX
from freight.registry.apierrors import DistributionError
from freight.registry.htpasswd import HtpasswdAuth
from freight.registry.manifests import MAX_MANIFEST, manifest_references, manifest_subject, parse_manifest
from freight.registry.storage import UUID_RE, RegistryStorage, Upload, valid_digest, valid_name, valid_tag

PIECE = 1 << 20
REALM = "freight-registry"
CLIENT_GONE = 499  # the status nginx logs for a client that closed mid-request

Handler = Callable[..., Awaitable[web.StreamResponse]]


def error_response(err: DistributionError) -> web.Response:
    return web.json_response(err.body(), status=err.status, headers=err.headers)


def _range_header(size: int) -> str:
    """The upload progress as the CNCF registry writes it: "0-<last byte>", "0-0" empty."""
    return f"0-{max(size - 1, 0)}"


def _joined(pieces: list[bytes]) -> bytes:
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


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
        raise DistributionError("PAGINATION_NUMBER_INVALID", {"n": raw})
    n = int(raw)
    page = items[:n]
    if n == 0 or len(items) <= n:
        return page, {}
    link = f'<{path}?n={n}&last={quote(page[-1], safe="")}>; rel="next"'
    return page, {"Link": link}


class Handlers:
    """The request handlers, bound to one storage root (``auth``: None lets everyone in;
    ``idle_timeout``: how long a client may pause within a body)."""

    def __init__(self, storage: RegistryStorage, auth: HtpasswdAuth | None, read_only: bool,
                 max_uploads: int, idle_timeout: float) -> None:
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
        except DistributionError as err:
            return error_response(err)
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
                raise DistributionError(
                    "UNAUTHORIZED", headers={"WWW-Authenticate": f'Basic realm="{REALM}"'}
                )
            method = "GET" if request.method == "HEAD" else request.method  # HEAD: GET's headers
            handler = methods.get(method)
            writes = method != "GET"
            if handler is None or (writes and self.read_only):
                allowed = [m for m in methods if not (self.read_only and m != "GET")]
                allowed += ["HEAD"] if "GET" in methods else []
                raise DistributionError(
                    "UNSUPPORTED", {"method": request.method}, headers={"Allow": ", ".join(allowed)}
                )
            args = match.groupdict()
            if "name" in args and not valid_name(args["name"]):
                raise DistributionError("NAME_INVALID", {"name": args["name"]})
            if "digest" in args and not valid_digest(args["digest"]):
                raise DistributionError("DIGEST_INVALID", {"digest": args["digest"]})
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
            raise DistributionError("NAME_UNKNOWN", {"name": name})
        page, headers = paginate(tags, request, f"/v2/{name}/tags/list")
        return web.json_response({"name": name, "tags": page}, headers=headers)

    # blobs ---------------------------------------------------------------------------------

    async def get_blob(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        if not self.storage.has_blob(name, digest):
            raise DistributionError("BLOB_UNKNOWN", {"digest": digest})
        headers = {
            "Docker-Content-Digest": digest,
            "Content-Type": "application/octet-stream",
            "Cache-Control": "max-age=31536000",
        }
        return web.FileResponse(self.storage.blob_path(digest), headers=headers)

    async def delete_blob(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        if not self.storage.unlink_blob(name, digest):
            raise DistributionError("BLOB_UNKNOWN", {"digest": digest})
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
            raise DistributionError("TOOMANYREQUESTS", {"uploads": len(self.storage.uploads)})
        return self.storage.new_upload(name)

    def _find_upload(self, name: str, upload_id: str) -> Upload:
        upload = self.storage.get_upload(name, upload_id) if UUID_RE.match(upload_id) else None
        if upload is None:
            raise DistributionError("BLOB_UPLOAD_UNKNOWN", {"uuid": upload_id})
        return upload

    def _query_digest(self, request: web.Request) -> str:
        digest = request.query.get("digest", "")
        if not valid_digest(digest):
            raise DistributionError("DIGEST_INVALID", {"digest": digest})
        return digest

    async def start_upload(self, request: web.Request, name: str) -> web.StreamResponse:
        mount, source = request.query.get("mount"), request.query.get("from")
        if mount is not None:
            if not valid_digest(mount):
                raise DistributionError("DIGEST_INVALID", {"digest": mount})
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
            raise DistributionError("BLOB_UPLOAD_UNKNOWN", {"uuid": upload.id})

    def _check_content_range(self, request: web.Request, upload: Upload) -> None:
        """A chunk must start where the upload stands: 416 otherwise, as the spec says."""
        header = request.headers.get("Content-Range")
        if header is None:
            return
        match = re.fullmatch(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?", header.strip())
        if match is None:
            raise DistributionError("BLOB_UPLOAD_INVALID", {"Content-Range": header})
        start, end = int(match[1]), int(match[2])
        if start != upload.size or end < start:
            raise DistributionError(
                "BLOB_UPLOAD_INVALID",
                {"Content-Range": header, "size": upload.size},
                status=416,
                headers=self._upload_headers(upload.repo, upload),
            )
        length = request.content_length
        if length is not None and length != end - start + 1:
            raise DistributionError("SIZE_INVALID", {"Content-Range": header, "Content-Length": length})

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
            raise DistributionError("DIGEST_INVALID", {"digest": digest})
        return self._blob_created(name, digest)

    # manifests -----------------------------------------------------------------------------

    def _check_reference(self, ref: str, writing: bool) -> None:
        if ":" in ref:
            if not valid_digest(ref):
                raise DistributionError("DIGEST_INVALID", {"digest": ref})
        elif not valid_tag(ref):
            code = "MANIFEST_INVALID" if writing else "MANIFEST_UNKNOWN"
            raise DistributionError(code, {"tag": ref})

    async def get_manifest(self, request: web.Request, name: str, ref: str) -> web.StreamResponse:
        self._check_reference(ref, writing=False)
        digest = self.storage.resolve(name, ref)
        manifest = self.storage.get_manifest(name, digest) if digest else None
        if manifest is None:
            raise DistributionError("MANIFEST_UNKNOWN", {"reference": ref})
        headers = {"Docker-Content-Digest": manifest.digest, "ETag": f'"{manifest.digest}"'}
        return web.Response(body=manifest.data, content_type=manifest.media_type, headers=headers)

    async def _read_manifest_body(self, request: web.Request) -> bytes:
        if (request.content_length or 0) > MAX_MANIFEST:
            raise DistributionError("SIZE_INVALID", {"limit": MAX_MANIFEST}, status=413)
        pieces: list[bytes] = []
        size = 0
        async for chunk in self._body(request):
            size += len(chunk)
            if size > MAX_MANIFEST:
                raise DistributionError("SIZE_INVALID", {"limit": MAX_MANIFEST}, status=413)
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
                raise DistributionError("MANIFEST_BLOB_UNKNOWN", {"digest": digest})
        for digest in manifests:
            if not self.storage.has_manifest(name, digest):
                raise DistributionError("MANIFEST_BLOB_UNKNOWN", {"digest": digest})
        tag = None if ":" in ref else ref
        algorithm = "sha256" if tag is not None else ref.split(":", 1)[0]
        digest = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
        if tag is None and digest != ref:
            raise DistributionError("DIGEST_INVALID", {"digest": ref, "computed": digest})
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
                raise DistributionError("MANIFEST_UNKNOWN", {"reference": ref})
            return web.Response(status=202)
        manifest = self.storage.get_manifest(name, ref)
        if manifest is None:
            raise DistributionError("MANIFEST_UNKNOWN", {"reference": ref})
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
