"""A registry's image as an image source (``freight.image.source``; go-containerregistry's ``remote``).

:func:`remote_image` asks for a manifest by tag or digest and, for an index,
the manifest of the wanted platform. Blobs are read lazily: the config whole
(it is small), a layer either as a verified stream or, into a blob store,
with ``Registry.download_blob`` (resumed with ``Range`` after a broken
connection, kept encoded when it is a plain tar, and feeding a stream that
unpacks it while it arrives).
"""

from __future__ import annotations

from freight.image.mediatypes import INDEXES, MANIFESTS
from freight.image.reference import Reference
from freight.image.source import ImageSource, IndexSource, Layer, is_index
from freight.registry.connections import RegistryError

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.image.source import Advance, Blobs, Feed, Readable
    from freight.registry.client import Registry


class RemoteImage(ImageSource):
    """An image manifest of a registry's repository ``repo``."""

    def __init__(self, registry: Registry, repo: str, raw: bytes, digest: str, media_type: str | None) -> None:
        super().__init__(raw, digest, media_type)
        self.registry = registry
        self.repo = repo

    def open_blob(self, descriptor: dict[str, Any]) -> Readable:
        return self.registry.open_blob(self.repo, descriptor["digest"])

    def layer(self, descriptor: dict[str, Any], diff_id: str) -> Layer:
        return RemoteLayer(self, descriptor, diff_id)


class RemoteLayer(Layer):
    """A registry's layer: put into a blob store by a download that resumes after a broken connection."""

    source: RemoteImage

    def fetch(self, blobs: Blobs, advance: Advance, feed: Feed | None = None, encode: bool = False) -> None:
        self.source.registry.download_blob(self.source.repo, self.digest, self.size, blobs, advance, feed, encode)


class RemoteIndex(IndexSource):
    """An image index of a registry's repository ``repo``."""

    def __init__(self, registry: Registry, repo: str, raw: bytes, digest: str, name: str) -> None:
        super().__init__(raw, digest)
        self.registry = registry
        self.repo = repo
        self.name = name

    def child(self, descriptor: dict[str, Any]) -> ImageSource:
        data, media_type, digest = self.registry.get_manifest(self.repo, descriptor["digest"])
        return _image(self.registry, self.repo, data, digest, media_type, self.name)


def remote_image(registry: Registry, ref: Reference, platform: dict[str, str]) -> tuple[ImageSource, str]:
    """The image ``ref`` names (for an index: its ``platform`` image), and the digest ``ref`` resolved to."""
    data, media_type, digest = registry.get_manifest(ref.path, ref.digest or ref.tag or "latest")
    if media_type in INDEXES or (media_type not in MANIFESTS and is_index(data)):
        return RemoteIndex(registry, ref.path, data, digest, ref.familiar()).image(platform), digest
    return _image(registry, ref.path, data, digest, media_type, ref.familiar()), digest


def _image(registry: Registry, repo: str, data: bytes, digest: str, media_type: str, name: str) -> RemoteImage:
    import json

    manifest = json.loads(data)
    if manifest.get("schemaVersion") != 2 or media_type not in MANIFESTS | {None, ""} or "config" not in manifest:
        raise RegistryError(f"unsupported manifest format for {name}: {media_type}")
    return RemoteImage(registry, repo, data, digest, media_type or None)
