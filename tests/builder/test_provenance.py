"""Provenance: every build keeps an in-toto / SLSA v1 statement of its inputs beside the
image, never in it; ``inspect --provenance`` shows it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from testlib import run_freight

from freight.store import referrers
from freight.store.store import Store, open_store
from tests.builder.buildutil import write_context

DOCKERFILE = "FROM busybox\nARG GREETING\nCOPY a.txt /a.txt\nRUN echo $GREETING > /g\n"


def _build(store: Store, ctx: Path, *flags: str) -> str:
    built = run_freight(store.root, "build", "-q", "--build-arg", "GREETING=hi", "--secret",
                        f"id=token,src={ctx / 'a.txt'}", *flags, str(ctx), timeout=300)
    assert built.returncode == 0, built.stderr
    return built.stdout.strip()


def test_inspect_provenance_shows_the_inputs(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"a.txt": "a\n", "Dockerfile": DOCKERFILE})
    image_id = _build(busybox_store, ctx, "-t", "prov:1")
    shown = run_freight(busybox_store.root, "inspect", "--provenance", "prov:1")
    assert shown.returncode == 0, shown.stderr
    [statement] = json.loads(shown.stdout)
    image = busybox_store.resolve_image(image_id)
    base = busybox_store.resolve_image("busybox")
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"] == [{"name": "docker.io/library/prov:1",
                                     "digest": {"sha256": image.manifest_digest[7:]}}]
    definition = statement["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["buildArgs"] == {"GREETING": "hi"}
    assert "token" not in json.dumps(statement)  # a secret is no input the statement names
    deps = {d["name"]: d for d in definition["resolvedDependencies"]}
    assert deps["dockerfile"]["digest"]["sha256"] == hashlib.sha256(DOCKERFILE.encode()).hexdigest()
    assert len(deps["context"]["digest"]["sha256"]) == 64
    assert deps["busybox"]["digest"]["sha256"] == base.manifest_digest[7:]
    assert statement["predicate"]["runDetails"]["builder"]["version"]["freight"]
    same = run_freight(busybox_store.root, "image", "inspect", "--provenance", image_id)
    assert json.loads(same.stdout) == [statement]
    # The image's own config says nothing of it.
    assert "slsa" not in json.dumps(image.config) and "in-toto" not in busybox_store.blobs.read(
        image.manifest_digest).decode()


def test_the_image_id_is_the_same_with_and_without_provenance(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"a.txt": "a\n", "Dockerfile": DOCKERFILE})
    with_it = _build(busybox_store, ctx)
    other = open_store(tmp_path / "other")
    saved = tmp_path / "busybox.tar"
    assert run_freight(busybox_store.root, "save", "-o", str(saved), "busybox").returncode == 0
    assert run_freight(other.root, "load", "-i", str(saved)).returncode == 0
    without = _build(other, ctx, "--provenance=false")
    assert with_it == without
    assert busybox_store.resolve_image(with_it).manifest_digest == other.resolve_image(without).manifest_digest
    missing = run_freight(other.root, "inspect", "--provenance", without)
    assert missing.returncode == 1 and missing.stderr.strip().endswith(f"No provenance for image: {without}")


def test_provenance_lives_as_long_as_its_image(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"a.txt": "a\n", "Dockerfile": DOCKERFILE})
    image = busybox_store.resolve_image(_build(busybox_store, ctx, "-t", "prov:gc"))
    [artifact] = referrers.referrers(busybox_store, image.manifest_digest)
    statement = artifact.payload_descriptor()["digest"]
    busybox_store.gc()
    assert busybox_store.blobs.has(artifact.digest) and busybox_store.blobs.has(statement)
    assert run_freight(busybox_store.root, "rmi", "prov:gc").returncode == 0
    busybox_store.gc()
    assert not busybox_store.blobs.has(artifact.digest) and not busybox_store.blobs.has(statement)


def test_save_and_load_keep_the_provenance(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"a.txt": "a\n", "Dockerfile": DOCKERFILE})
    image_id = _build(busybox_store, ctx, "-t", "prov:save")
    statement = run_freight(busybox_store.root, "inspect", "--provenance", image_id).stdout
    [artifact] = referrers.referrers(busybox_store, busybox_store.resolve_image(image_id).manifest_digest)
    saved = tmp_path / "prov.tar"
    assert run_freight(busybox_store.root, "save", "-o", str(saved), "prov:save").returncode == 0
    pushed = run_freight(busybox_store.root, "push", "prov:save", f"oci:{tmp_path / 'layout'}")
    assert pushed.returncode == 0, pushed.stderr
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert [d["annotations"]["dev.freight.referrers"] for d in index["manifests"]] == [artifact.digest]
    assert (tmp_path / "layout" / "blobs" / "sha256" / artifact.digest[7:]).read_bytes() == artifact.raw
    for n, (verb, source) in enumerate((("load", ["-i", str(saved)]), ("pull", [f"oci:{tmp_path / 'layout'}"]))):
        other = open_store(tmp_path / f"other{n}")
        done = run_freight(other.root, verb, *source)
        assert done.returncode == 0, done.stderr
        assert other.resolve_image("prov:save").id == image_id
        assert run_freight(other.root, "inspect", "--provenance", "prov:save").stdout == statement
