"""``docker search``: repositories whose name holds a term, from a registry's catalog
(``GET /v2/_catalog``), or for Docker Hub from its index's search API (the catalog is not
offered there)."""

from __future__ import annotations

from freight.errors import FreightError
from freight.image.reference import DEFAULT_DOMAIN
from freight.registry.client import Registry
from freight.registry.connections import RegistryError

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

_HUB_INDEX = "index.docker.io"


def split_term(text: str) -> tuple[str, str]:
    """``localhost:5000/busy`` -> (``localhost:5000``, ``busy``); a bare term is Docker Hub's."""
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return DEFAULT_DOMAIN, text


def search(text: str, limit: int = 25) -> list[dict[str, Any]]:
    """Results as Docker's ``/images/search`` gives them: name, description, stars, official."""
    domain, term = split_term(text)
    if domain in (DEFAULT_DOMAIN, _HUB_INDEX):
        return _hub_search(term, limit)
    with Registry(domain) as registry:
        registry.ping()
        try:
            names = registry.catalog()
        except RegistryError as err:
            raise FreightError(f"{domain} does not list its repositories (GET /v2/_catalog: {err}): "
                               f"search needs a registry that offers its catalog") from None
    found = [name for name in names if term.lower() in name.lower()]
    return [{"name": f"{domain}/{name}", "description": "", "star_count": 0, "is_official": False,
             "is_automated": False} for name in found[:limit]]


def _hub_search(term: str, limit: int) -> list[dict[str, Any]]:
    with Registry(_HUB_INDEX) as registry:
        response = registry.request("GET", "/v1/search", params={"q": term, "n": str(limit)})
        if response.status_code != 200:
            raise FreightError(f"{_HUB_INDEX} search answered {response.status_code}")
        results: list[dict[str, Any]] = response.json().get("results") or []
    return results[:limit]
