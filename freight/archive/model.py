"""An image found in an archive, independent of the archive's format."""

from __future__ import annotations

import json

from freight.archive.source import ArchiveError
from freight.image.reference import Reference
from freight.record import Record, field

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any


class ArchiveImage(Record, frozen=False):
    """One image in an archive.

    ``manifest`` is the manifest's exact bytes: as stored in an OCI layout, or
    made by freight (an OCI manifest over the archive's own layer files) for a
    Docker archive, which carries none. ``blobs`` maps each config and layer
    digest to the archive file holding it. Reading an archive gathers an image's
    ``names`` (``add_names``) from every place that names it.
    """

    manifest: bytes
    manifest_digest: str
    config: bytes
    config_digest: str
    layers: list[dict[str, Any]]
    names: list[Reference] = field(default_factory=list)
    blobs: dict[str, str] = field(default_factory=dict)

    @property
    def config_json(self) -> dict[str, Any]:
        config = json.loads(self.config)
        if not isinstance(config, dict):
            raise ArchiveError(f"invalid archive: image config {self.config_digest} is not a JSON object")
        return config

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config_json.get("rootfs", {}).get("diff_ids") or [])

    def check(self) -> None:
        """Raise unless the config and manifest have the shape an image needs."""
        diff_ids = self.config_json.get("rootfs", {}).get("diff_ids")
        if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
            raise ArchiveError(f"invalid archive: image config {self.config_digest} has no rootfs.diff_ids list")
        if not all(isinstance(layer, dict) and isinstance(layer.get("digest"), str) for layer in self.layers):
            raise ArchiveError(f"invalid archive: manifest {self.manifest_digest} has a malformed layer")

    def add_names(self, names: list[Reference]) -> None:
        for name in names:
            if name not in self.names:
                self.names.append(name)
