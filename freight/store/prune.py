"""Pruning images (``image prune``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from freight.record import Record, field
from freight.store.image_edits import log_removals
from freight.store.images import Image
from freight.store.store import Store


class PruneReport(Record, frozen=False):
    """The ("Untagged" or "Deleted", what) events of a prune, and the bytes it freed."""

    images: list[tuple[str, str]] = field(default_factory=list)
    reclaimed: int = 0


def prune_images(store: Store, all_unused: bool = False,
                 selected: Callable[[Image], bool] | None = None) -> PruneReport:
    """Remove dangling images (all unused ones with ``all_unused``; only those ``selected``
    takes, see ``image_filter``), then their content."""
    report = PruneReport(delete_images(store, all_unused, selected))
    collect(store, report)
    return report


def delete_images(store: Store, all_unused: bool = False,
                  selected: Callable[[Image], bool] | None = None) -> list[tuple[str, str]]:
    """Delete the rows of dangling (``all_unused``: unused) images that ``selected`` takes; their events."""
    events = []
    for image in store.images.all():
        if selected is None or selected(image):
            events += store.images.delete_unused(image.id, untag=all_unused)
    log_removals(store, events)
    return events


def collect(store: Store, report: PruneReport) -> None:
    """Run GC; add the snapshots it deleted and the bytes it freed to ``report``."""
    gc = store.gc()
    if gc:
        report.reclaimed += gc.reclaimed
        report.images += [("Deleted", chain) for chain in gc.deleted_snapshots]


def image_filter(filters: Mapping[str, list[str]]) -> Callable[[Image], bool]:
    """Docker's prune filters for images: ``until`` (RFC 3339: created before), ``label``
    (``KEY`` or ``KEY=VALUE``: has it) and ``label!`` (has it not)."""
    def selected(image: Image) -> bool:
        return prune_filters_take(image.created, image.config.get("config", {}).get("Labels") or {}, filters)
    return selected


def prune_filters_take(created: str, labels: Mapping[str, str], filters: Mapping[str, list[str]]) -> bool:
    """Whether an object created at ``created`` (RFC 3339) with ``labels`` passes prune filters."""
    return (all(created < until for until in filters.get("until", []))
            and all(has_label(labels, wanted) for wanted in filters.get("label", []))
            and not any(has_label(labels, wanted) for wanted in filters.get("label!", [])))


def has_label(labels: Mapping[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)
