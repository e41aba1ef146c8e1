"""``docker images --filter``: which images a set of filters selects (the CLI's and the API's)."""

from __future__ import annotations

from freight.errors import InvalidArgument

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store.images import Image
    from freight.store.store import Store

_KEYS = ("dangling", "reference", "label", "before", "since")


def parse_image_filters(specs: list[str]) -> dict[str, list[str]]:
    """``KEY=VALUE`` strings into a key → values map."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep or key not in _KEYS:
            raise InvalidArgument(f"invalid filter '{spec}'")
        out.setdefault(key, []).append(value)
    return out


def select_images(st: Store, images: list[Image], filters: dict[str, list[str]]) -> list[Image]:
    """The images the dangling, before, since and label filters accept (``reference``: see
    ``matches_reference``)."""
    for value in filters.get("dangling", []):
        if value not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")
        want = value in ("true", "1")
        images = [i for i in images if (not i.repo_tags) == want]
    for key in ("before", "since"):
        for value in filters.get(key, []):
            pivot = st.resolve_image(value).created
            images = [i for i in images if (i.created < pivot if key == "before" else i.created > pivot)]
    for value in filters.get("label", []):
        k, _, v = value.partition("=")
        images = [i for i in images if k in (labels := i.config.get("config", {}).get("Labels") or {})
                  and (not v or labels[k] == v)]
    return images


def matches_reference(repository: str, tag: str, patterns: list[str]) -> bool:
    """Whether ``repository:tag`` (or the repository alone) matches one of the shell patterns."""
    import fnmatch  # only a listing filtered by name needs it

    name = f"{repository}:{tag}"
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(repository, p) for p in patterns)
