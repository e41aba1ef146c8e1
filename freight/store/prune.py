"""Pruning images and measuring the store (``image prune``, ``system df``)."""

from __future__ import annotations

from freight.store.store import Store


class PruneReport:
    def __init__(self) -> None:
        self.images: list[tuple[str, str]] = []
        self.reclaimed = 0


def prune_images(store: Store, all_unused: bool = False) -> PruneReport:
    """Remove dangling images (all unused ones with ``all_unused``), then their content."""
    report = PruneReport()
    for image in store.images.all():
        report.images += store.images.delete_unused(image.id, untag=all_unused)
    gc = store.gc()
    if gc:
        report.reclaimed = gc.reclaimed
        report.images += [("Deleted", chain) for chain in gc.deleted_snapshots]
    return report
