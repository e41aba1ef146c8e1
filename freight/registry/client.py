"""An OCI distribution API client (the HTTP side of ``freight pull`` and ``freight push``).

Which registries are spoken to over plain HTTP, and where ``docker.io`` is, is
``freight.registry.hosts``'s; answering authentication challenges is
``freight.registry.challenges``'s. Requests go over the standard library's
``http.client`` (``connections``: kept-alive connections, redirects, TLS,
proxies from the environment). Blob downloads stream into the store's blob
writer (never whole in memory), read off the socket in 1 MiB pieces, are
resumed with ``Range`` after a broken connection, and are verified against
their digest before they become visible. A download can also feed a
``BlobStream`` (``freight.store.blobstream``) that another thread reads
while the bytes arrive (``freight pull`` unpacks from it). Uploads stream from
files, either in one ``PUT`` or as ``PATCH`` chunks with ``Content-Range``, or
from a generator of unknown length in one chunked ``PATCH`` (``upload_stream``).
"""

from __future__ import annotations

import functools
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urljoin

from freight.errors import DigestMismatch, FreightError
from freight.image.digest import sha256_bytes
from freight.image.mediatypes import MANIFEST_ACCEPT
from freight.image.reference import Reference
from freight.registry.auth import Credentials, get_credentials
from freight.registry.challenges import Authenticator
from freight.registry.connections import Body, Connections, RegistryError, Response, Unreachable, reason, with_params
from freight.registry.hosts import endpoint, is_insecure
from freight.store.blobstream import CHUNK

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from freight.image.source import Blobs, Feed

MAX_MANIFEST = 4 << 20
RETRIES = 5
SYNC_EVERY = 16 << 20  # a download's bytes are synced to disk as they come, in pieces this big

Progress = Callable[[int], None]  # called with the number of bytes just moved


def error_from(response: Response) -> str:
    """Docker's rendering of a registry error: ``code: message``, lower-case code."""
    try:
        errors = json.loads(response.read() or b"{}").get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    if errors and isinstance(errors[0], dict):
        first = errors[0]
        code = str(first.get("code", "unknown")).lower().replace("_", " ")
        return f"{code}: {first.get('message') or code}"
    if response.status_code == 401:
        return "unauthorized: authentication required"
    if response.status_code == 403:
        return "denied: requested access to the resource is denied"
    return f"unexpected status from {response.method} request to {response.url}: " \
           f"{response.status_code} {response.reason_phrase}"


# -- the client ------------------------------------------------------------


class Registry:
    """One registry host; thread-safe, so layers can move in parallel."""

    def __init__(self, domain: str, credentials: Credentials | None = None, *,
                 timeout: float = 60.0) -> None:
        self.domain = domain
        self.base = endpoint(domain)
        self.insecure = is_insecure(domain)
        self.auth = Authenticator(domain, credentials if credentials is not None
                                  else get_credentials(domain))
        # Insecure registries skip certificate checks, as Docker's do (and need no CA bundle).
        self.http = Connections(timeout, self.insecure)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        return path if "://" in path else self.base + path

    def request(self, method: str, path: str, scope: str = "", *, headers: dict[str, str] | None = None,
                params: dict[str, str] | None = None, content: Body | None = None,
                stream: bool = False) -> Response:
        """Send a request, answering one 401 challenge (Basic or Bearer) and retrying once.

        ``content`` is a factory so that the body can be sent again after a 401.
        Unless ``stream``, the answer's body is read before this returns.
        """
        url = with_params(self.url(path), params)
        for attempt in (1, 2):
            sent = dict(headers or {})
            if (value := self.auth.header(self.http, scope)) is not None:
                sent["Authorization"] = value
            response = self.http.send(method, url, sent, content, stream)
            if response.status_code != 401 or attempt == 2:
                return response
            response.close()
            had_token = "Authorization" in sent
            self.auth.rejected(response.headers.get("WWW-Authenticate"), scope)
            if had_token and self.auth.challenge and self.auth.challenge.scheme == "basic":
                return response  # the credentials themselves were refused
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """``GET /v2/``: find the registry's scheme and learn its auth challenge.

        An insecure registry is tried over HTTPS first, then plain HTTP, as Docker does.
        Call this before anything else.
        """
        bases = [self.base, "http" + self.base.removeprefix("https")] if self.insecure else [self.base]
        for base in bases:
            url = base + "/v2/"
            try:
                response = self.http.send("GET", url, {})
            except Unreachable as err:
                if base == bases[-1]:
                    raise RegistryError(str(err)) from None
                continue
            self.base = base
            break
        if response.status_code == 401:
            self.auth.rejected(response.headers.get("WWW-Authenticate"), "")
        elif response.status_code >= 400 and response.status_code != 404:
            raise RegistryError(f'Get "{url}": {error_from(response)}')

    def check_login(self) -> None:
        """``GET /v2/`` with the credentials, as ``docker login`` checks them."""
        self.ping()
        response = self.request("GET", "/v2/")
        if response.status_code in (401, 403):
            raise RegistryError(f'Get "{self.url("/v2/")}": {error_from(response)}')

    # -- manifests ---------------------------------------------------------

    def get_manifest(self, repo: str, ref: str, scope: str | None = None) -> tuple[bytes, str, str]:
        """Fetch a manifest or index by tag or digest: (bytes exactly as sent, media type, digest)."""
        response = self.request("GET", f"/v2/{repo}/manifests/{ref}", scope or pull_scope(repo),
                                headers={"Accept": ", ".join(MANIFEST_ACCEPT)}, stream=True)
        try:
            if response.status_code != 200:
                raise RegistryError(f"{_manifest_name(self.domain, repo, ref)}: {error_from(response)}"
                                    if response.status_code != 404 else
                                    f"manifest for {_manifest_name(self.domain, repo, ref)} not found: "
                                    f"{error_from(response)}")
            data = b""
            for chunk in response.iter_raw():
                data += chunk
                if len(data) > MAX_MANIFEST:
                    raise RegistryError(f"manifest for {_manifest_name(self.domain, repo, ref)} is "
                                        f"larger than {MAX_MANIFEST} bytes")
        finally:
            response.close()
        digest = sha256_bytes(data)
        if ref.startswith("sha256:") and digest != ref:
            raise DigestMismatch(f"manifest verification failed for digest {ref}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            media_type = json.loads(data).get("mediaType") or media_type
        except (ValueError, AttributeError):
            raise RegistryError(f"manifest for {repo}:{ref} is not JSON") from None
        return data, media_type, digest

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        response = self.request("PUT", f"/v2/{repo}/manifests/{ref}", push_scope(repo),
                                headers={"Content-Type": media_type}, content=lambda: data)
        if response.status_code not in (200, 201, 202):
            raise RegistryError(error_from(response))
        return sha256_bytes(data)

    def put_referrer(self, repo: str, data: bytes, media_type: str) -> bool:
        """Put a manifest that has a ``subject``, by digest; whether the registry keeps its
        referrers (it answered ``OCI-Subject``, distribution-spec 1.1) or a client must
        update the fallback tag itself."""
        digest = sha256_bytes(data)
        response = self.request("PUT", f"/v2/{repo}/manifests/{digest}", push_scope(repo),
                                headers={"Content-Type": media_type}, content=lambda: data)
        if response.status_code not in (200, 201, 202):
            raise RegistryError(error_from(response))
        return response.headers.get("OCI-Subject") is not None

    def referrers(self, repo: str, digest: str, artifact_type: str) -> list[dict[str, Any]] | None:
        """The descriptors of ``digest``'s referrers of ``artifact_type`` through the referrers
        API; None where the registry has no such API (it answers 404)."""
        response = self.request("GET", f"/v2/{repo}/referrers/{digest}", pull_scope(repo),
                                params={"artifactType": artifact_type})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RegistryError(error_from(response))
        found: list[dict[str, Any]] = _json_body(response, "referrers index").get("manifests") or []
        return [d for d in found if d.get("artifactType") == artifact_type]

    def tags(self, repo: str) -> list[str]:
        """Every tag of a repository, following ``Link`` pagination."""
        return self._pages(f"/v2/{repo}/tags/list", pull_scope(repo), "tags", "tag list")

    def catalog(self) -> list[str]:
        """Every repository the registry lists (``GET /v2/_catalog``, an optional part of the
        distribution API: a registry without it answers 404 or 401, raised as RegistryError)."""
        return self._pages("/v2/_catalog", "registry:catalog:*", "repositories", "catalog")

    def _pages(self, path: str, scope: str, key: str, what: str) -> list[str]:
        items: list[str] = []
        page: str | None = path
        while page:
            response = self.request("GET", page, scope)
            if response.status_code != 200:
                raise RegistryError(error_from(response))
            items += _json_body(response, what).get(key) or []
            page = _next_link(response.headers.get("Link"))
        return items

    # -- blobs -------------------------------------------------------------

    def has_blob(self, repo: str, digest: str, scope: str | None = None) -> bool:
        response = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope or pull_scope(repo))
        if response.status_code in (200, 307):
            return True
        if response.status_code == 404:
            return False
        raise RegistryError(error_from(response))

    def download_blob(self, repo: str, digest: str, size: int | None, blobs: Blobs,
                      progress: Progress = lambda n: None, stream: Feed | None = None,
                      encode: bool = False) -> str:
        """Stream a blob into the store, resuming with Range after a broken connection.

        ``encode``: keep it encoded (an uncompressed layer tar, see ``BlobStore.writer``).

        The blob is verified against ``digest`` before it becomes visible; a
        mismatch raises DigestMismatch and keeps nothing. ``stream`` gets the
        same bytes as they arrive and its end as soon as they matched
        ``digest``, so its reader finishes while the blob is fsynced (the
        caller records nothing before this returns, and by then the blob is
        durable); it is abandoned if the download fails, or if a registry
        ignores Range and the download starts over.
        """
        sink = _Sink(blobs, stream, encode)
        try:
            failures = 0
            while True:
                try:
                    self._receive(repo, digest, size, sink, progress)
                    break
                except (Unreachable, _Short) as err:
                    failures += 1
                    if failures > RETRIES:
                        raise RegistryError(f"downloading {digest}: {reason(err)}") from None
                    time.sleep(min(0.2 * 2 ** failures, 5.0))
            if sink.stream is not None and sink.writer.written_digest() == digest:
                sink.stream.end()
                sink.stream = None
            return sink.writer.commit(digest)
        except BaseException:
            sink.abandon()
            raise
        finally:
            sink.writer.abort()

    def _receive(self, repo: str, digest: str, size: int | None, sink: _Sink,
                 progress: Progress) -> None:
        """One GET of a blob (ranged when resuming) into ``sink``."""
        offset = sink.size
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self.request("GET", f"/v2/{repo}/blobs/{digest}", pull_scope(repo), headers=headers,
                                stream=True)
        try:
            if response.status_code == 200 and offset:
                progress(-offset)  # the server ignored Range: start again
                sink.restart()
            elif response.status_code == 206 and not _starts_at(response, offset):
                raise RegistryError(f"downloading {digest}: the registry resumed at the wrong offset")
            elif response.status_code not in (200, 206):
                response.read()
                raise RegistryError(f"downloading {digest}: {error_from(response)}")
            with sink.pipe() as write:
                for chunk in response.iter_raw():
                    write(chunk)
                    progress(len(chunk))
                    if size is not None and sink.size > size:
                        raise DigestMismatch(f"blob {digest} is longer than its descriptor's {size} bytes")
        finally:
            response.close()
        if size is not None and sink.size < size:
            raise _Short(f"connection closed after {sink.size} of {size} bytes")

    def open_blob(self, repo: str, digest: str) -> BodyReader:
        """A blob's bytes as they arrive (not verified: ``freight.image.source.Verified`` does that)."""
        response = self.request("GET", f"/v2/{repo}/blobs/{digest}", pull_scope(repo), stream=True)
        if response.status_code != 200:
            response.read()
            raise RegistryError(f"downloading {digest}: {error_from(response)}")
        return BodyReader(response.iter_raw(), response.close)

    def mount_blob(self, repo: str, digest: str, source: str) -> bool:
        """Ask the registry to link a blob from another of its repositories (True: done)."""
        response = self.request("POST", f"/v2/{repo}/blobs/uploads/", _mount_scope(repo, source),
                                params={"mount": digest, "from": source})
        response.read()
        if response.status_code == 201:
            return True
        if response.status_code == 202:  # mount refused: an upload was started instead
            if location := response.headers.get("Location"):
                self.request("DELETE", location, push_scope(repo)).close()
            return False
        raise RegistryError(error_from(response))

    def upload_blob(self, repo: str, digest: str, size: int, opener: Callable[[], BinaryIO],
                    chunk_size: int | None = None, progress: Progress = lambda n: None) -> None:
        """Upload a blob: one streamed ``PUT``, or ``PATCH`` chunks of ``chunk_size`` then ``PUT``."""
        location = self._start_upload(repo)
        if chunk_size and size > 0:
            location = self._patch_chunks(repo, location, size, opener, chunk_size, progress)
            self.finish_upload(repo, location, digest)
        else:
            self.finish_upload(repo, location, digest, size,
                               lambda: _read_range(opener, 0, size, progress))

    def upload_stream(self, repo: str, chunks: Iterator[bytes], progress: Progress = lambda n: None) -> str:
        """Send a blob whose size and digest are not known yet in one chunked ``PATCH``.

        Returns the upload's location, for ``finish_upload`` once the digest is
        known. The body cannot be sent twice: a 401 on the ``PATCH`` raises
        Unreachable, as a broken connection does.
        """
        location = self._start_upload(repo)
        sent: list[bool] = []

        def body() -> Iterator[bytes]:
            if sent:
                raise Unreachable(f"uploading to {repo}: the registry refused a body that cannot be resent")
            sent.append(True)
            return _counted(chunks, progress)

        response = self.request("PATCH", location, push_scope(repo),
                                headers={"Content-Type": "application/octet-stream"}, content=body)
        response.read()
        if response.status_code != 202:
            raise RegistryError(f"uploading a chunk: {error_from(response)}")
        return self._location(response)

    def finish_upload(self, repo: str, location: str, digest: str, length: int = 0,
                      body: Callable[[], Iterator[bytes]] | None = None) -> None:
        """``PUT ?digest=``: the last (or only) piece of an upload, which the registry then verifies."""
        response = self.request("PUT", location, push_scope(repo), params={"digest": digest},
                                headers={"Content-Type": "application/octet-stream",
                                         "Content-Length": str(length)}, content=body or (lambda: b""))
        response.read()
        if response.status_code not in (201, 204):
            raise RegistryError(f"uploading {digest}: {error_from(response)}")

    def _start_upload(self, repo: str) -> str:
        response = self.request("POST", f"/v2/{repo}/blobs/uploads/", push_scope(repo),
                                headers={"Content-Length": "0"})
        response.read()
        if response.status_code != 202:
            raise RegistryError(error_from(response))
        return self._location(response)

    def _patch_chunks(self, repo: str, location: str, size: int, opener: Callable[[], BinaryIO],
                      chunk_size: int, progress: Progress) -> str:
        for start in range(0, size, chunk_size):
            end = min(start + chunk_size, size)
            response = self.request(
                "PATCH", location, push_scope(repo),
                headers={"Content-Type": "application/octet-stream",
                         "Content-Range": f"{start}-{end - 1}", "Content-Length": str(end - start)},
                content=functools.partial(_read_range, opener, start, end, progress))
            response.read()
            if response.status_code != 202:
                raise RegistryError(f"uploading a chunk: {error_from(response)}")
            location = self._location(response)
        return location

    def _location(self, response: Response) -> str:
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(f"{self.domain}: upload response without a Location")
        return urljoin(self.url("/"), location)


class _Sink:
    """A blob being downloaded; hashing and writing run on a worker thread beside the socket reads."""

    def __init__(self, blobs: Blobs, stream: Feed | None = None, encode: bool = False) -> None:
        self._blobs = blobs
        self._encode = encode
        self.writer = blobs.writer(SYNC_EVERY, encode)
        self.size = 0  # bytes handed over, written or queued
        self.stream = stream

    def restart(self) -> None:
        self.writer.abort()
        self.writer = self._blobs.writer(SYNC_EVERY, self._encode)
        self.size = 0
        self.abandon()  # its reader has had bytes that will now come again

    def abandon(self) -> None:
        if self.stream is not None:
            self.stream.abandon()
            self.stream = None

    @contextmanager
    def pipe(self) -> Iterator[Callable[[bytes], None]]:
        chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=32)
        failed: list[BaseException] = []

        def work() -> None:
            while (chunk := chunks.get()) is not None:
                if not failed:
                    try:
                        self.writer.write(chunk)
                    except BaseException as err:  # reported to the reading thread
                        failed.append(err)

        def write(chunk: bytes) -> None:
            if failed:
                raise failed[0]
            chunks.put(chunk)
            self.size += len(chunk)
            if self.stream is not None:
                self.stream.feed(chunk)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        try:
            yield write
        finally:
            chunks.put(None)
            worker.join()
            self.size = self.writer.size
        if failed:
            raise failed[0]


class BodyReader:
    """A response body as a file-like, read in the pieces it arrives in."""

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._head = b""
        self._close = close

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._head) < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._head += chunk
        if size < 0:
            size = len(self._head)
        data, self._head = self._head[:size], self._head[size:]
        return data

    def close(self) -> None:
        self._close()


class _Short(Exception):
    """A blob download that ended early; retried with Range."""


def _read_range(opener: Callable[[], BinaryIO], start: int, end: int,
                progress: Progress) -> Iterator[bytes]:
    with opener() as f:
        f.seek(start)
        left = end - start
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                raise FreightError("a blob shrank while it was being uploaded")
            left -= len(chunk)
            progress(len(chunk))
            yield chunk


def _counted(chunks: Iterator[bytes], progress: Progress) -> Iterator[bytes]:
    for chunk in chunks:
        progress(len(chunk))
        yield chunk


def _starts_at(response: Response, offset: int) -> bool:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return match is not None and int(match.group(1)) == offset


def _next_link(header: str | None) -> str | None:
    match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', header or "")
    return match.group(1) if match else None


def _manifest_name(domain: str, repo: str, ref: str) -> str:
    """``busybox:latest`` or ``localhost:5000/app@sha256:...``, as Docker names it in errors."""
    digest = ref if ref.startswith("sha256:") else None
    return Reference(domain, repo, None if digest else ref, digest).familiar()


def pull_scope(repo: str) -> str:
    return f"repository:{repo}:pull"


def push_scope(repo: str) -> str:
    return f"repository:{repo}:pull,push"


def _mount_scope(repo: str, source: str) -> str:
    return f"{push_scope(repo)} {pull_scope(source)}"


def _json_body(response: Response, what: str) -> dict[str, Any]:
    """A response's JSON object, or a one-line error naming what the registry sent instead."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        kind = response.headers.get("Content-Type", "unknown content")
        raise RegistryError(f"invalid {what} from {response.url}: expected JSON, got {kind}")
    return body
