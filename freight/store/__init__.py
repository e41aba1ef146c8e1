"""The local store: content-addressed blobs, image metadata and snapshots."""

from freight.store.store import Store, open_store

__all__ = ["Store", "open_store"]
