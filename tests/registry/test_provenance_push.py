"""A build's provenance goes up with ``push`` as an OCI artifact whose ``subject`` is the
image: through the referrers API of freight's registry, through the fallback tag
``sha256-<hex>`` on the CNCF registry (which has no referrers API); ``pull --provenance``
finds it either way."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from registries import RegistryProcess
from testlib import run_freight

from freight.store.store import Store, open_store
from tests.builder.buildutil import write_context

IN_TOTO = "application/vnd.in-toto+json"


@pytest.mark.parametrize("kind", ["freight", "cncf"])
def test_push_attaches_provenance_and_pull_finds_it(kind: str, busybox_store: Store, tmp_path: Path,
                                                    start_registry: Callable[..., RegistryProcess]) -> None:
    server = start_registry(kind=kind)
    ref = f"{server.host}/prov:1"
    ctx = write_context(tmp_path / "ctx", {"a.txt": "a\n", "Dockerfile": "FROM busybox\nCOPY a.txt /a.txt\n"})
    built = run_freight(busybox_store.root, "build", "-q", "-t", ref, str(ctx), timeout=300)
    assert built.returncode == 0, built.stderr
    pushed = run_freight(busybox_store.root, "push", ref)
    assert pushed.returncode == 0, pushed.stderr
    digest = next(line.split()[2] for line in pushed.stdout.splitlines() if ": digest: " in line)
    artifact = next(line.split()[2] for line in pushed.stdout.splitlines() if ": provenance: " in line)

    api = httpx.get(f"{server.url}/v2/prov/referrers/{digest}")
    fallback = httpx.get(f"{server.url}/v2/prov/manifests/{digest.replace(':', '-')}",
                         headers={"Accept": "application/vnd.oci.image.index.v1+json"})
    listed = (api if kind == "freight" else fallback).json()["manifests"]
    assert [(d["digest"], d["artifactType"]) for d in listed] == [(artifact, IN_TOTO)]
    if kind == "freight":
        assert fallback.status_code == 404  # the registry keeps referrers itself: no fallback tag
    else:
        assert api.status_code == 404
    manifest = httpx.get(f"{server.url}/v2/prov/manifests/{artifact}",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    assert manifest["subject"]["digest"] == digest and manifest["artifactType"] == IN_TOTO

    other = open_store(tmp_path / "other")
    pulled = run_freight(other.root, "pull", "--provenance", ref)
    assert pulled.returncode == 0, pulled.stderr
    assert "Provenance: sha256:" in pulled.stdout
    shown = run_freight(other.root, "inspect", "--provenance", ref)
    assert shown.returncode == 0, shown.stderr
    [statement] = json.loads(shown.stdout)
    assert statement["subject"][0]["digest"]["sha256"] == digest[7:]
    deps = {d["name"] for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]}
    assert deps == {"dockerfile", "context", "busybox"}


def test_pull_provenance_of_an_image_without_one_fails_in_one_line(busybox_store: Store, tmp_path: Path,
                                                                  registry: Callable[..., str]) -> None:
    ref = f"{registry('freight')}/plain:1"
    assert run_freight(busybox_store.root, "tag", "busybox", ref).returncode == 0
    assert run_freight(busybox_store.root, "push", ref).returncode == 0
    other = open_store(tmp_path / "other")
    pulled = run_freight(other.root, "pull", "--provenance", ref)
    assert pulled.returncode == 1
    assert pulled.stderr == f"Error response from daemon: no provenance found for {ref}\n"
    assert other.resolve_image(ref)  # the image itself was pulled
