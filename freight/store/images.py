"""Images in the local store: records, names, lookup, removal.

An image is a manifest and a config in the blob store plus a row in the
``images`` table keyed by its ID (the config digest). Names (``tags``) and
registry digests (``repo_digests``) point at image IDs. Lookup follows
Docker: a full ID, then a name, then a unique ID prefix. An image that someone
holds (a container: ``freight.store.refs``) is not deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime

from freight.errors import Conflict, FreightError, InvalidReference, NotFound
from freight.image import reference
from freight.image.digest import chain_ids
from freight.image.mediatypes import INDEXES
from freight.store.db import transaction
from freight.store.refs import IMAGE

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable
    from typing import Any

    from freight.store.refs import References

    ReadBlob = Callable[[str], bytes]

HEX_RE_CHARS = frozenset("0123456789abcdef")


class Image:
    """An image record; its manifest and config are read from the blob store on first use."""

    __slots__ = ("id", "manifest_digest", "created", "size", "added", "repo_tags", "repo_digests",
                 "_read_blob", "_manifest", "_config")

    def __init__(self, id: str, manifest_digest: str, created: str, size: int, added: str,
                 repo_tags: list[str], repo_digests: list[str], read_blob: ReadBlob | None = None) -> None:
        self.id = id
        self.manifest_digest = manifest_digest
        self.created = created
        self.size = size
        self.added = added
        self.repo_tags = repo_tags
        self.repo_digests = repo_digests
        self._read_blob = read_blob
        self._manifest: dict[str, Any] | None = None
        self._config: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Image({self.id!r}, tags={self.repo_tags!r})"

    @property
    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            assert self._read_blob is not None
            self._manifest = _json_loads(self._read_blob(self.manifest_digest))
        return self._manifest

    @property
    def config(self) -> dict[str, Any]:
        """The image config as Docker reads it (``freight.image.schema``): a config stored
        before freight checked them fails here with Docker's message, not later with a traceback."""
        if self._config is None:
            from freight.image.schema import read_config  # json: see _json_loads

            assert self._read_blob is not None
            self._config = read_config(self._read_blob(self.id))
        return self._config

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids", []))

    @property
    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)

    @property
    def layers(self) -> list[dict[str, Any]]:
        """The manifest's layer descriptors, bottom first."""
        return list(self.manifest.get("layers", []))


def _json_loads(data: bytes) -> Any:
    import json  # listing images reads no manifest: json would cost it about a thirtieth of its time

    return json.loads(data)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _as_named(text: str) -> str:
    """``text`` as Docker's engine names a missing image: a name gets its tag (``busybox:latest``)."""
    try:
        return reference.parse(text).familiar()
    except InvalidReference:
        return text


class ImageIndex:
    """Reads and writes the image, tag and repo-digest tables.

    ``read_blob`` reads a manifest or config from the blob store when an image's
    are first used (listing images reads none).
    """

    def __init__(self, db: sqlite3.Connection, read_blob: ReadBlob, refs: References) -> None:
        self._db = db
        self._read_blob = read_blob
        self._refs = refs

    # -- reading --------------------------------------------------------

    def get(self, image_id: str) -> Image | None:
        row = self._db.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone()
        return self._image(row) if row else None

    def all(self) -> list[Image]:
        rows = self._db.execute("SELECT * FROM images ORDER BY added DESC").fetchall()
        tags = self._names("SELECT name, image_id FROM tags ORDER BY name")
        digests = self._names("SELECT name, image_id FROM repo_digests ORDER BY name")
        return [self._image(r, tags.get(r["id"], []), digests.get(r["id"], [])) for r in rows]

    def resolve(self, text: str) -> Image:
        """Find an image by ID, name or ID prefix, as ``docker image inspect`` does."""
        image = self.lookup(text)
        if image is None:
            raise NotFound(f"No such image: {_as_named(text)}")
        return image

    def lookup(self, text: str) -> Image | None:
        if text.startswith("sha256:") and len(text) == 71:
            return self.get(text)
        try:
            ref = reference.parse(text)
        except InvalidReference:
            ref = None
        if ref is not None:
            image_id = self._id_for(ref)
            if image_id:
                return self.get(image_id)
        prefix = text.removeprefix("sha256:")
        if prefix and set(prefix) <= HEX_RE_CHARS:
            return self._by_prefix(prefix)
        if ref is None:
            reference.parse(text)  # raise the reference error
        return None

    def _id_for(self, ref: reference.Reference) -> str | None:
        if ref.digest:
            row = self._db.execute("SELECT image_id FROM repo_digests WHERE name = ?",
                                   (f"{ref.repository}@{ref.digest}",)).fetchone()
            if row is None and ref.digest:
                row = self._db.execute("SELECT id FROM images WHERE manifest_digest = ?",
                                       (ref.digest,)).fetchone()
        else:
            row = self._db.execute("SELECT image_id FROM tags WHERE name = ?", (str(ref),)).fetchone()
        return row[0] if row else None

    def _by_prefix(self, prefix: str) -> Image | None:
        rows = self._db.execute("SELECT id FROM images WHERE id >= ? AND id < ?",
                                (f"sha256:{prefix}", f"sha256:{prefix}\x7f")).fetchall()
        if len(rows) > 1:
            raise Conflict(f"ambiguous image ID prefix {prefix}: it matches {len(rows)} images")
        return self.get(rows[0][0]) if rows else None

    def tags_of(self, image_id: str) -> list[str]:
        rows = self._db.execute("SELECT name FROM tags WHERE image_id = ? ORDER BY name", (image_id,))
        return [r[0] for r in rows]

    def _names(self, query: str) -> dict[str, list[str]]:
        names: dict[str, list[str]] = {}
        for name, image_id in self._db.execute(query):
            names.setdefault(image_id, []).append(name)
        return names

    def _image(self, row: sqlite3.Row, tags: list[str] | None = None,
               digests: list[str] | None = None) -> Image:
        if tags is None:
            tags = self.tags_of(row["id"])
        if digests is None:
            digests = [r[0] for r in self._db.execute(
                "SELECT name FROM repo_digests WHERE image_id = ? ORDER BY name", (row["id"],))]
        return Image(row["id"], row["manifest_digest"], row["created"], row["size"], row["added"],
                     tags, digests, self._read_blob)

    # -- writing --------------------------------------------------------

    def insert(self, image_id: str, manifest_digest: str, created: str, size: int,
               tags: list[reference.Reference], repo_digest: str | None) -> None:
        with transaction(self._db):
            self._db.execute(
                "INSERT OR IGNORE INTO images (id, manifest_digest, created, size, added) VALUES (?,?,?,?,?)",
                (image_id, manifest_digest, created, size, now_rfc3339()))
            for ref in tags:
                self._db.execute("INSERT OR REPLACE INTO tags (name, image_id) VALUES (?, ?)",
                                 (str(ref), image_id))
            if repo_digest:
                self._db.execute("INSERT OR REPLACE INTO repo_digests (name, image_id) VALUES (?, ?)",
                                 (repo_digest, image_id))

    def tag(self, image_id: str, ref: reference.Reference) -> None:
        if ref.digest:
            raise InvalidReference("refusing to create a tag with a digest reference")
        with transaction(self._db):
            self._db.execute("INSERT OR REPLACE INTO tags (name, image_id) VALUES (?, ?)",
                             (str(ref), image_id))

    def remove(self, text: str, force: bool = False) -> list[tuple[str, str]]:
        """``docker rmi`` for one argument; returns ("Untagged"|"Deleted", what) events."""
        with transaction(self._db):
            image = self.resolve(text)
            by_name = self._names_the_image(text, image)
            tags = self.tags_of(image.id)
            users = self._refs.holders(IMAGE, image.id)
            if by_name and len(tags) > 1:
                return self._untag(text)
            if not by_name and len(tags) > 1 and not force:
                raise Conflict(f"conflict: unable to delete {image.id[7:19]} (must be forced)"
                               " - image is referenced in multiple repositories")
            if users and not force:
                raise Conflict(f"conflict: unable to remove repository reference \"{text}\" (must be"
                               f" forced) - {users[0][0]} {users[0][1][:12]} is using its referenced image"
                               f" {image.id[7:19]}")
            events = [e for name in tags for e in self._untag(name)]
            if not users:
                self._delete(image.id)
                events.append(("Deleted", image.id))
            return events

    def delete_unused(self, image_id: str, untag: bool = False) -> list[tuple[str, str]]:
        """Delete an image no container uses (for prune); tagged ones only with ``untag``."""
        with transaction(self._db):
            tags = self.tags_of(image_id)
            if (tags and not untag) or self._refs.holders(IMAGE, image_id):
                return []
            events = [e for name in tags for e in self._untag(name)]
            self._delete(image_id)
            return events + [("Deleted", image_id)]

    def _names_the_image(self, text: str, image: Image) -> bool:
        try:
            ref = reference.parse(text)
        except InvalidReference:
            return False
        return str(ref) in image.repo_tags

    def _untag(self, text: str) -> list[tuple[str, str]]:
        ref = reference.parse(text)
        self._db.execute("DELETE FROM tags WHERE name = ?", (str(ref),))
        return [("Untagged", ref.familiar())]

    def _delete(self, image_id: str) -> None:
        self._db.execute("DELETE FROM tags WHERE image_id = ?", (image_id,))
        self._db.execute("DELETE FROM repo_digests WHERE image_id = ?", (image_id,))
        self._db.execute("DELETE FROM images WHERE id = ?", (image_id,))


def is_index(manifest: dict[str, Any]) -> bool:
    return manifest.get("mediaType") in INDEXES or "manifests" in manifest


def reject_index(manifest: dict[str, Any]) -> None:
    if is_index(manifest):
        raise FreightError("expected an image manifest, got an image index")
