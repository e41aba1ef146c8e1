"""Interoperability with the reference tools: skopeo and umoci read what freight saves, freight
loads what skopeo writes, all offline."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from imagelib import make_image, sha256_digest
from testlib import require_tool, run_freight

from freight.archive import load, save, write_oci_layout
from freight.image.reference import parse
from freight.store import open_store
from freight.store.store import Store
from tests.builder.buildutil import deterministic_context


def tool(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=120).stdout


@pytest.fixture
def skopeo() -> str:
    return require_tool("skopeo", "skopeo")


@pytest.fixture
def saved_busybox(busybox_store: Store, tmp_path: Path) -> tuple[Store, Path]:
    make_image(busybox_store, [{"etc/a": b"a"}, {"etc/b": b"b"}], ["example.com/two:layers"])
    path = tmp_path / "images.tar"
    with path.open("wb") as out:
        save(busybox_store, ["busybox:latest", "example.com/two:layers"], out)
    return busybox_store, path


def test_skopeo_reads_the_archive_both_ways(saved_busybox: tuple[Store, Path], skopeo: str) -> None:
    store, path = saved_busybox
    image = store.resolve_image("busybox:latest")
    docker = json.loads(tool(skopeo, "inspect", f"docker-archive:{path}:busybox:latest"))
    assert docker["Layers"] == image.diff_ids
    config = tool(skopeo, "inspect", "--config", "--raw", f"docker-archive:{path}:busybox:latest")
    assert sha256_digest(config.encode()) == image.id
    raw = tool(skopeo, "inspect", "--raw", f"oci-archive:{path}:latest")
    assert sha256_digest(raw.encode()) == image.manifest_digest
    two = json.loads(tool(skopeo, "inspect", f"docker-archive:{path}:example.com/two:layers"))
    assert len(two["Layers"]) == 2


def test_umoci_unpacks_the_layout(saved_busybox: tuple[Store, Path], tmp_path: Path) -> None:
    umoci = require_tool("umoci", "umoci")
    _, path = saved_busybox
    layout = tmp_path / "layout"
    with tarfile.open(path) as tar:
        tar.extractall(layout, filter="data")
    tool(umoci, "unpack", "--image", f"{layout}:latest", str(tmp_path / "bundle"))
    assert (tmp_path / "bundle/rootfs/bin/busybox").is_file()
    assert (tmp_path / "bundle/config.json").is_file()


def test_loads_what_skopeo_writes(saved_busybox: tuple[Store, Path], skopeo: str, tmp_path: Path) -> None:
    _, path = saved_busybox
    layout = tmp_path / "oci"
    tool(skopeo, "copy", "-q", f"docker-archive:{path}:busybox:latest", f"oci:{layout}:mytag")
    manifest = tool(skopeo, "inspect", "--raw", f"oci:{layout}:mytag").encode()
    layers = json.loads(manifest)["layers"]
    assert layers[0]["mediaType"].endswith("+gzip")  # skopeo compressed the layer
    target = open_store(tmp_path / "target")
    loaded = load(target, layout)
    assert [(i.manifest_digest, i.id, i.tags) for i in loaded] == [
        (sha256_digest(manifest), json.loads(manifest)["config"]["digest"], [])]
    assert target.resolve_image(loaded[0].id).layers == layers
    target.images.tag(loaded[0].id, parse("gz:1"))
    resaved = tmp_path / "resaved.tar"  # compressed blobs go out as received
    with resaved.open("wb") as out:
        save(target, ["gz:1"], out)
    assert tool(skopeo, "inspect", "--raw", f"oci-archive:{resaved}:1").encode() == manifest
    inspected = json.loads(tool(skopeo, "inspect", f"docker-archive:{resaved}"))
    assert inspected["Layers"] == target.resolve_image("gz:1").diff_ids

    archive = tmp_path / "from-skopeo.tar"
    tool(skopeo, "copy", "-q", f"oci:{layout}:mytag", f"docker-archive:{archive}:example.com/copied:v1")
    config = tool(skopeo, "inspect", "--config", "--raw", f"docker-archive:{archive}").encode()
    fresh = open_store(tmp_path / "fresh")
    loaded = load(fresh, archive)
    assert [(i.id, i.tags) for i in loaded] == [(sha256_digest(config), ["example.com/copied:v1"])]
    image = fresh.resolve_image("example.com/copied:v1")
    assert (fresh.layer_dirs(image)[0] / "bin/busybox").is_file()

    oci_archive = tmp_path / "oci-archive.tar"
    tool(skopeo, "copy", "-q", f"oci:{layout}:mytag", f"oci-archive:{oci_archive}:mytag")
    with oci_archive.open("rb") as f:
        assert [i.manifest_digest for i in load(open_store(tmp_path / "third"), f)] == [sha256_digest(manifest)]


def test_skopeo_reads_a_written_oci_layout(busybox_store: Store, skopeo: str, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    write_oci_layout(busybox_store, ["busybox:latest"], layout)
    write_oci_layout(busybox_store, ["busybox:latest"], layout, ref_name="plain")
    image = busybox_store.resolve_image("busybox:latest")
    for ref in ("latest", "plain"):
        raw = tool(skopeo, "inspect", "--raw", f"oci:{layout}:{ref}").encode()
        assert sha256_digest(raw) == image.manifest_digest
    index = json.loads((layout / "index.json").read_bytes())
    assert len(index["manifests"]) == 2
    assert load(open_store(tmp_path / "again"), layout)[0].manifest_digest == image.manifest_digest


def test_docker_loads_freight_archives_and_freight_loads_docker_archives(
        saved_busybox: tuple[Store, Path], docker: list[str], tmp_path: Path) -> None:
    store, path = saved_busybox
    image = store.resolve_image("busybox:latest")
    out = tool(*docker, "load", "-i", str(path))
    assert "Loaded image: busybox:latest" in out and "Loaded image: example.com/two:layers" in out
    assert tool(*docker, "image", "inspect", "-f", "{{.Id}}", "busybox:latest").strip() == image.id
    tool(*docker, "save", "-o", str(tmp_path / "docker.tar"), "busybox:latest", "example.com/two:layers")
    fresh = open_store(tmp_path / "fresh")
    loaded = {tag: i.id for i in load(fresh, tmp_path / "docker.tar") for tag in i.tags}
    assert loaded == {"busybox:latest": image.id,
                      "example.com/two:layers": store.resolve_image("example.com/two:layers").id}
    assert (fresh.layer_dirs(fresh.resolve_image("busybox"))[0] / "bin/busybox").is_file()
    tool(*docker, "rmi", "busybox:latest", "example.com/two:layers")


def test_docker_runs_a_reproducible_build_unchanged(busybox_store: Store, docker: list[str], tmp_path: Path) -> None:
    ctx = deterministic_context(tmp_path / "ctx", 1_111_111_111)
    image = run_freight(busybox_store.root, "build", "-q", "-t", "repro:docker", str(ctx), check=True,
                        timeout=300).stdout.strip()
    run_freight(busybox_store.root, "save", "-o", str(tmp_path / "repro.tar"), "repro:docker", check=True)
    tool(*docker, "load", "-i", str(tmp_path / "repro.tar"))
    try:
        assert tool(*docker, "image", "inspect", "-f", "{{.Id}}", "repro:docker").strip() == image
        out = tool(*docker, "run", "--rm", "--network", "none", "--user", "0", "repro:docker",
                   "sh", "-c", "cat /x/link /work/mine /unpacked/old.txt && stat -c %a /x/y/f")
        assert out == "hello\nas a user\nold\n600\n"
    finally:
        tool(*docker, "rmi", "repro:docker")
