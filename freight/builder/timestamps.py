"""The build's time: one timestamp for every new history entry, config and file.

Reproducible by default: a build's time ``T`` depends only on its inputs, never
on the wall clock, the checkout or a git history (a context sent as a tar has
none), so the same Dockerfile, context, build args and base images give the same
image ID and manifest digest on any machine, at any time, cold or warm cache:

1. ``SOURCE_DATE_EPOCH`` when set (``--timestamp SECONDS``, the environment
   variable, or ``--build-arg SOURCE_DATE_EPOCH=``, in that order);
2. else the newest ``created`` of the base images (``FROM``) of the stages the
   build needs, in whole seconds;
3. else (every stage ``FROM scratch``) the Unix epoch, 1970-01-01T00:00:00Z.

``T`` is the config's ``created``, every new history entry's ``created``, the
mtime of every entry COPY, ADD and WORKDIR write, and the upper bound of every
mtime in a new layer (RUN output, files unpacked by ADD): newer times are lowered
to ``T``, older ones kept, all in whole seconds. The directory a step leaves
as its snapshot is given the same times as its layer tar, so a later RUN sees the
same tree whether that layer was built just now or unpacked from the cache. The
cache key of every step holds ``T`` (and ``LAYER_RULES``), so a cached layer is
always the one ``--no-cache`` would make.

``--timestamp now`` opts out (Docker's behaviour): the config and each RUN's
history entry carry the wall clock, RUN output keeps the times its command gave
it, and COPY/ADD entries get the fixed ``copyadd.FIXED_MTIME``.
"""

from __future__ import annotations

import math
from datetime import datetime

from freight.errors import InvalidArgument
from freight.image.canonical import source_date_epoch

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from freight.store.images import Image

NOW = "now"
# Bumped whenever a change makes the same step write other layer bytes (tar format, time
# rules), so cache entries made by older rules are never taken for the new ones.
LAYER_RULES = 2


def parse_timestamp(text: str) -> int | None:
    """``--timestamp``: ``now`` (None: the wall clock) or whole seconds since the epoch."""
    if text == NOW:
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    raise InvalidArgument(f"invalid --timestamp {text!r}: want 'now' or seconds since the epoch")


def given_epoch(build_args: Mapping[str, str]) -> int | None:
    """``SOURCE_DATE_EPOCH`` from the environment, else from the build args."""
    epoch = source_date_epoch()
    if epoch is not None:
        return epoch
    value = build_args.get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.isascii() and value.isdigit() else None


def created_seconds(created: str | None) -> int:
    """An image's ``created`` (RFC 3339, nanoseconds allowed) in whole seconds; 0 when absent or unreadable."""
    if not created:
        return 0
    try:
        return max(0, math.floor(datetime.fromisoformat(created).timestamp()))
    except ValueError:
        return 0


def bases_epoch(images: Iterable[Image]) -> int:
    """Rule 2 and 3: the newest ``created`` of ``images``, else 0."""
    return max((created_seconds(img.config.get("created")) for img in images), default=0)
