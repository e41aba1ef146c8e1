"""Names of skopeo's archive transports, as ``freight pull`` and ``freight push`` take them.

``oci:DIR[:REF]`` is an OCI image layout directory, ``oci-archive:FILE[:REF]`` a tar
of one, ``docker-archive:FILE[:REF]`` a ``docker save`` tar (``freight.registry.transports``
moves images between them and the store). Telling such a name from an image reference
needs nothing else, so that a pull from a registry loads none of the archive code.
"""

from __future__ import annotations

from pathlib import Path

from freight.errors import InvalidReference

TRANSPORTS = ("oci", "oci-archive", "docker-archive")


def is_transport(text: str) -> bool:
    """Whether ``text`` names an archive transport (``oci:``, ``oci-archive:``, ``docker-archive:``)."""
    return text.split(":", 1)[0] in TRANSPORTS


def split(text: str) -> tuple[str, Path, str | None]:
    """``oci-archive:/tmp/x.tar:v1`` → ("oci-archive", Path("/tmp/x.tar"), "v1")."""
    transport, _, rest = text.partition(":")
    if transport not in TRANSPORTS or not rest:
        raise InvalidReference(f"invalid transport reference \"{text}\"")
    path, _, ref = rest.partition(":")  # as skopeo: a path has no colon, a REF may have several
    return transport, Path(path), ref or None
