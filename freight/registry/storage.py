"""Server-side storage of the registry: blobs, repositories and upload sessions.

Layout under the root (the blob part is the one freight's local store uses, so both can
share it):

    blobs/<alg>/<hex>                                  content: layers, configs, manifests
    repositories/<name>/_layers/<alg>/<hex>            empty link: the blob is in the repo
    repositories/<name>/_manifests/revisions/<alg>/<hex>  link holding the media type
    repositories/<name>/_manifests/tags/<tag>          the digest the tag points to
    repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>  manifest -> its subject
    uploads/<uuid>/data, uploads/<uuid>/repo           upload sessions in progress

A blob is visible in a repository only through its link there, as in the CNCF registry.
Repository path components never start with "_" or ".", so the "_" folders and the
".tmp-" files used for atomic writes cannot collide with names or tags.

Every write is atomic: content goes to a temporary file that is fsynced and then renamed
into place, so a crash leaves either nothing or the whole file. Upload sessions live in
memory (the running hash cannot be saved) and on disk under uploads/, so an upload of a
server that crashed never becomes visible. Several servers may share one root: each
removes only upload folders idle past its upload timeout (by their modification time),
whichever server they belong to, and keeps the folders of its busy sessions fresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import time
import uuid
from pathlib import Path

from freight.record import Record, field

DIGEST_RE = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
NAME_RE = re.compile(
    r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$"
)
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_NAME_LENGTH = 255


def valid_digest(digest: str) -> bool:
    """True for a sha256 or sha512 digest with the right number of lowercase hex digits."""
    return DIGEST_RE.match(digest) is not None


def valid_name(name: str) -> bool:
    """True for a repository name the distribution spec accepts."""
    return len(name) <= MAX_NAME_LENGTH and NAME_RE.match(name) is not None


def valid_tag(tag: str) -> bool:
    return TAG_RE.match(tag) is not None


def digest_path(digest: str) -> str:
    """"sha256:abc" -> "sha256/abc", the relative path of a digest in every folder."""
    alg, hex_ = digest.split(":", 1)
    return f"{alg}/{hex_}"


def file_digest(path: Path, algorithm: str) -> str:
    with path.open("rb") as f:
        return f"{algorithm}:{hashlib.file_digest(f, algorithm).hexdigest()}"


def atomic_write(path: Path, data: bytes) -> None:
    """Write data to path through a fsynced temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{uuid.uuid4().hex}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def touch(path: Path) -> None:
    """Create an empty link file (an empty file is written atomically by nature)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))


def _last_modified(folder: str) -> float:
    """The newest modification time of a folder and the files in it.

    FileNotFoundError when the folder itself is gone; files removed meanwhile are skipped.
    """
    newest = os.stat(folder).st_mtime
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
            except FileNotFoundError:
                continue
    return newest


def _refresh(folder: Path) -> None:
    try:
        os.utime(folder)
    except FileNotFoundError:
        pass


class Upload(Record, frozen=False):
    """An upload session: bytes received so far, on disk and in the running sha256."""

    id: str
    repo: str
    dir: Path
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    size: int = 0
    touched: float = field(default_factory=time.monotonic)
    busy: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one request at a time

    @property
    def data(self) -> Path:
        return self.dir / "data"

    def open(self) -> int:
        """An append-only descriptor on the data file, for one request's chunks."""
        return os.open(self.data, os.O_WRONLY | os.O_APPEND)

    def append(self, fd: int, buf: bytes) -> None:
        """Write and hash one buffer (called from a worker thread; hashlib frees the GIL).

        A failed write (disk full) is cut back off the file, so the file, the hash and
        the size always agree and the client can retry the chunk.
        """
        view = memoryview(buf)
        try:
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            os.ftruncate(fd, self.size)
            raise
        self.hasher.update(buf)
        self.size += len(buf)
        self.touched = time.monotonic()

    def digest(self, algorithm: str) -> str:
        if algorithm == "sha256":
            return f"sha256:{self.hasher.hexdigest()}"
        return file_digest(self.data, algorithm)


class StoredManifest(Record):
    """A manifest as the registry keeps it: its exact bytes and the media type it was put with."""

    digest: str
    media_type: str
    data: bytes


class RegistryStorage:
    """The registry's files under one root; every method is synchronous."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.repos = self.root / "repositories"
        self.uploads_dir = self.root / "uploads"
        for folder in (self.blobs, self.repos, self.uploads_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.uploads: dict[str, Upload] = {}

    # blobs -------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest_path(digest)

    def _layer_link(self, repo: str, digest: str) -> Path:
        return self.repos / repo / "_layers" / digest_path(digest)

    def blob_size(self, repo: str, digest: str) -> int | None:
        """The size of a blob linked in repo, or None when the repo does not have it."""
        if not self._layer_link(repo, digest).exists():
            return None
        try:
            return self.blob_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def has_blob(self, repo: str, digest: str) -> bool:
        return self.blob_size(repo, digest) is not None

    def link_blob(self, repo: str, digest: str) -> None:
        touch(self._layer_link(repo, digest))

    def unlink_blob(self, repo: str, digest: str) -> bool:
        try:
            self._layer_link(repo, digest).unlink()
            return True
        except FileNotFoundError:
            return False

    def mount_blob(self, repo: str, digest: str, source: str) -> bool:
        """Link into repo a blob that source has; False when source does not have it."""
        if not self.has_blob(source, digest):
            return False
        self.link_blob(repo, digest)
        return True

    def _store_blob_file(self, tmp: Path, digest: str) -> None:
        """Move a verified file into the content-addressed place (concurrent-safe)."""
        target = self.blob_path(digest)
        if target.exists():
            tmp.unlink()
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)

    # uploads -----------------------------------------------------------------------------

    def new_upload(self, repo: str) -> Upload:
        upload_id = str(uuid.uuid4())
        folder = self.uploads_dir / upload_id
        folder.mkdir()
        (folder / "repo").write_text(repo)
        os.close(os.open(folder / "data", os.O_WRONLY | os.O_CREAT, 0o644))
        upload = Upload(upload_id, repo, folder)
        self.uploads[upload_id] = upload
        return upload

    def get_upload(self, repo: str, upload_id: str) -> Upload | None:
        upload = self.uploads.get(upload_id)
        if upload is None or upload.repo != repo:
            return None
        return upload

    def drop_upload(self, upload: Upload) -> None:
        self.uploads.pop(upload.id, None)
        shutil.rmtree(upload.dir, ignore_errors=True)

    def commit_upload(self, upload: Upload, digest: str) -> bool:
        """Make the upload's bytes the blob digest in its repo, if they hash to it.

        The session ends either way; on a mismatch nothing is stored.
        """
        algorithm = digest.split(":", 1)[0]
        try:
            if upload.digest(algorithm) != digest:
                return False
            self._store_blob_file(upload.data, digest)
            self.link_blob(upload.repo, digest)
            return True
        finally:
            self.drop_upload(upload)

    def upload_gone(self, upload: Upload) -> bool:
        """True when another server removed the session's folder as idle; it ends here too."""
        if upload.dir.is_dir():
            return False
        self.uploads.pop(upload.id, None)
        return True

    def expire_uploads(self, timeout: float) -> list[str]:
        """End idle sessions untouched for timeout seconds; returns their ids.

        The folders of busy sessions (a body still arriving) get a fresh modification
        time, so that another server on this root does not take them for idle.
        """
        now = time.monotonic()
        sessions = list(self.uploads.values())  # commits pop from worker threads
        stale = [u for u in sessions if not u.busy and now - u.touched > timeout]
        for upload in stale:
            self.drop_upload(upload)
        for upload in sessions:
            if upload.busy:
                _refresh(upload.dir)
        return [u.id for u in stale]

    def remove_idle_folders(self, timeout: float, live: set[str]) -> None:
        """Remove upload folders of no session in live, unmodified for timeout seconds.

        They belong to a server that crashed, or to another server on this root, which
        would end them after its own timeout anyway.
        """
        now = time.time()
        with os.scandir(self.uploads_dir) as entries:
            for entry in entries:
                if entry.name in live or not entry.is_dir(follow_symlinks=False):
                    continue
                try:
                    idle = now - _last_modified(entry.path)
                except FileNotFoundError:  # ended meanwhile
                    continue
                if idle > timeout:
                    shutil.rmtree(entry.path, ignore_errors=True)

    # manifests and tags ------------------------------------------------------------------

    def _revision_link(self, repo: str, digest: str) -> Path:
        return self.repos / repo / "_manifests" / "revisions" / digest_path(digest)

    def _tag_file(self, repo: str, tag: str) -> Path:
        return self.repos / repo / "_manifests" / "tags" / tag

    def _referrer_link(self, repo: str, subject: str, digest: str) -> Path:
        return self.repos / repo / "_referrers" / digest_path(subject) / digest.replace(":", "-")

    def has_manifest(self, repo: str, digest: str) -> bool:
        return self._revision_link(repo, digest).exists()

    def put_manifest(
        self,
        repo: str,
        digest: str,
        data: bytes,
        media_type: str,
        tag: str | None,
        subject: str | None,
    ) -> None:
        """Store a validated manifest (data hashes to digest), link it, point tag at it."""
        if not self.blob_path(digest).exists():
            atomic_write(self.blob_path(digest), data)
        atomic_write(self._revision_link(repo, digest), media_type.encode())
        if subject is not None:
            touch(self._referrer_link(repo, subject, digest))
        if tag is not None:
            atomic_write(self._tag_file(repo, tag), digest.encode())

    def resolve(self, repo: str, reference: str) -> str | None:
        """The digest a tag or digest reference names in repo, or None."""
        if valid_digest(reference):
            return reference if self.has_manifest(repo, reference) else None
        try:
            digest = self._tag_file(repo, reference).read_text()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return digest if self.has_manifest(repo, digest) else None

    def get_manifest(self, repo: str, digest: str) -> StoredManifest | None:
        try:
            media_type = self._revision_link(repo, digest).read_text()
            data = self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            return None
        return StoredManifest(digest, media_type, data)

    def delete_tag(self, repo: str, tag: str) -> bool:
        try:
            self._tag_file(repo, tag).unlink()
            return True
        except FileNotFoundError:
            return False

    def delete_manifest(self, repo: str, digest: str, subject: str | None) -> None:
        """Unlink a manifest from repo, with every tag and referrer entry pointing at it."""
        self._revision_link(repo, digest).unlink(missing_ok=True)
        if subject is not None:
            self._referrer_link(repo, subject, digest).unlink(missing_ok=True)
        for tag in self.tags(repo) or []:
            if self.resolve_tag_target(repo, tag) == digest:
                self.delete_tag(repo, tag)

    def resolve_tag_target(self, repo: str, tag: str) -> str | None:
        try:
            return self._tag_file(repo, tag).read_text()
        except FileNotFoundError:
            return None

    def repo_exists(self, repo: str) -> bool:
        return (self.repos / repo / "_layers").is_dir() or (
            self.repos / repo / "_manifests"
        ).is_dir()

    def tags(self, repo: str) -> list[str] | None:
        """The repo's tags in lexical order, or None when the repository does not exist."""
        if not self.repo_exists(repo):
            return None
        try:
            names = os.listdir(self.repos / repo / "_manifests" / "tags")
        except FileNotFoundError:
            return []
        return sorted(n for n in names if not n.startswith("."))

    def repositories(self) -> list[str]:
        """Every repository name, sorted."""
        found: list[str] = []

        def walk(folder: str, prefix: str) -> None:
            for entry in os.scandir(folder):
                if not entry.is_dir() or entry.name.startswith(("_", ".")):
                    continue
                name = prefix + entry.name
                if self.repo_exists(name):
                    found.append(name)
                walk(entry.path, name + "/")

        walk(str(self.repos), "")
        return sorted(found)

    def referrers(self, repo: str, subject: str) -> list[str]:
        """Digests of the manifests in repo whose subject is the given digest."""
        folder = self.repos / repo / "_referrers" / digest_path(subject)
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        digests = [n.replace("-", ":", 1) for n in names if not n.startswith(".")]
        return sorted(d for d in digests if self.has_manifest(repo, d))
