"""Pruning images (``image prune``)."""

from __future__ import annotations

from freight.record import Record, field
from freight.store.store import Store


class PruneReport(Record, frozen=False):
    """The ("Untagged" or "Deleted", what) events of a prune, and the bytes it freed."""

    images: list[tuple[str, str]] = field(default_factory=list)
    reclaimed: int = 0


def prune_images(store: Store, all_unused: bool = False) -> PruneReport:
    """Remove dangling images (all unused ones with ``all_unused``), then their content."""
    report = PruneReport(delete_images(store, all_unused))
    collect(store, report)
    return report


def delete_images(store: Store, all_unused: bool = False) -> list[tuple[str, str]]:
    """Delete the rows of dangling (``all_unused``: unused) images; their events."""
    events = []
    for image in store.images.all():
        events += store.images.delete_unused(image.id, untag=all_unused)
    return events


def collect(store: Store, report: PruneReport) -> None:
    """Run GC; add the snapshots it deleted and the bytes it freed to ``report``."""
    gc = store.gc()
    if gc:
        report.reclaimed += gc.reclaimed
        report.images += [("Deleted", chain) for chain in gc.deleted_snapshots]
