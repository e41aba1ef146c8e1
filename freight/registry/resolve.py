"""What a reference names in its registry now, without pulling it: the digest the tag
points at (an index's or a manifest's) and, for each platform asked for, the digest of
that platform's manifest. ``freight lock`` writes these down; ``build --locked`` checks
them again.
"""

from __future__ import annotations

import json

from freight.image import platform as platforms
from freight.image import reference
from freight.image.mediatypes import INDEXES
from freight.record import Record
from freight.registry.client import Registry


class Resolved(Record):
    digest: str                   # what the reference points at (an index or a manifest)
    platforms: dict[str, str]     # "os/arch[/variant]" -> that platform's manifest digest


def resolve(ref: str, wanted: list[dict[str, str]]) -> Resolved:
    """The digests ``ref`` names in its registry now, for each platform of ``wanted``
    (a manifest that is not an index stands for every platform asked for)."""
    parsed = reference.parse(ref)
    with Registry(parsed.domain) as registry:
        registry.ping()
        data, media_type, digest = registry.get_manifest(parsed.path, parsed.digest or parsed.tag or "latest")
        if media_type not in INDEXES:
            return Resolved(digest, {platforms.text(p): digest for p in wanted})
        index = json.loads(data)
        return Resolved(digest, {platforms.text(p): platforms.choose_manifest(index, p)["digest"] for p in wanted})
