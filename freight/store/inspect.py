"""Docker's JSON views of images: what ``image inspect``, ``history`` and the API show."""

from __future__ import annotations

from freight.image import reference
from freight.image.digest import chain_ids
from freight.store.images import Image
from freight.store.store import Store

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

# The container-config shape Docker fills in for images, with its defaults.
_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
    "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
    "OnBuild": None, "Labels": None,
}


def familiar_tags(image: Image) -> list[str]:
    return [reference.parse(t).familiar() for t in image.repo_tags]


def familiar_digests(image: Image) -> list[str]:
    out = []
    for name in image.repo_digests:
        repo, _, digest = name.partition("@")
        out.append(f"{reference.parse(repo).familiar_repository}@{digest}")
    return out


def image_inspect(store: Store, image: Image) -> dict[str, Any]:
    config = image.config
    layers = [str(store.snapshots.path(c)) for c in reversed(chain_ids(image.diff_ids))]
    return {
        "Id": image.id,
        "RepoTags": familiar_tags(image),
        "RepoDigests": familiar_digests(image),
        "Parent": "",
        "Comment": next((h.get("comment", "") for h in reversed(config.get("history", []))), ""),
        "Created": image.created,
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": {**_CONFIG_DEFAULTS, **config.get("config", {})},
        "Architecture": config.get("architecture", ""),
        **({"Variant": config["variant"]} if config.get("variant") else {}),
        "Os": config.get("os", ""),
        "Size": image.size,
        "GraphDriver": {"Name": "overlay",
                        "Data": {"LowerDir": ":".join(layers[1:]), "UpperDir": layers[0] if layers else ""}},
        "RootFS": {"Type": "layers", "Layers": image.diff_ids},
        "Metadata": {"LastTagTime": image.added},
        "Descriptor": {"mediaType": image.manifest.get("mediaType", ""),
                       "digest": image.manifest_digest,
                       "size": store.blobs.size(image.manifest_digest)},
    }


def image_history(store: Store, image: Image) -> list[dict[str, Any]]:
    """History entries newest first, with each layer's size, as ``docker history``."""
    chains = iter(chain_ids(image.diff_ids))
    rows = []
    for entry in image.config.get("history", []):
        size = 0 if entry.get("empty_layer") else store.snapshots.size(next(chains, ""))
        rows.append({"Id": "<missing>", "Created": entry.get("created", ""),
                     "CreatedBy": entry.get("created_by", ""), "Tags": None, "Size": size,
                     "Comment": entry.get("comment", "")})
    rows.reverse()
    if rows:
        rows[0]["Id"] = image.id
        rows[0]["Tags"] = familiar_tags(image) or None
    return rows

