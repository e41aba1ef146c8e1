"""The local store: content-addressed blobs, image metadata and snapshots."""

from freight.store.store import GCReport, Store, open_store

__all__ = ["GCReport", "Store", "open_store"]
