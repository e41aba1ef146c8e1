"""``system check``: every blob against its digest, and every reference to something stored."""

from __future__ import annotations

import json

from freight.store.store import Store


def check(store: Store) -> list[str]:
    """Verify every blob's digest and every reference; return the problems found."""
    problems = [f"blob {d} does not match its digest"
                for d in store.blobs.digests() if not store.blobs.verify(d)]
    for row in store.db.execute("SELECT id, manifest_digest FROM images").fetchall():
        problems += _check_image(store, row["id"], row["manifest_digest"])
    for name, image_id in store.db.execute(
            "SELECT name, image_id FROM tags WHERE image_id NOT IN (SELECT id FROM images)"):
        problems.append(f"tag {name} points to missing image {image_id}")
    return problems


def _check_image(store: Store, image_id: str, manifest_digest: str) -> list[str]:
    if not store.blobs.has(manifest_digest):
        return [f"image {image_id}: manifest {manifest_digest} is missing"]
    manifest = json.loads(store.blobs.read(manifest_digest))
    wanted = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest.get("layers", [])]
    problems = [f"image {image_id}: blob {d} is missing" for d in wanted if not store.blobs.has(d)]
    if manifest["config"]["digest"] != image_id:
        problems.append(f"image {image_id}: manifest names config {manifest['config']['digest']}")
    return problems
