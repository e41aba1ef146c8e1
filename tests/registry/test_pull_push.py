"""freight push/pull against `freight registry serve` and the CNCF registry, and skopeo interop."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from imagelib import make_image
from registries import skopeo, write_htpasswd
from testlib import FREIGHT, free_port, run_freight

from freight.image.canonical import canonical_json, descriptor
from freight.image.digest import sha256_bytes
from freight.image.mediatypes import OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST
from freight.image.platform import host_platform
from freight.registry.client import Registry
from freight.registry.pull import pull
from freight.registry.push import push
from freight.store import Store, open_store
from freight.store.encoded import SUFFIX

SERVERS = ["freight", "cncf"]
FILES = {"etc/hello": b"hello\n", "bin/tool": os.urandom(64 * 1024)}


def _layer_files(store: Store, image) -> dict[str, bytes]:
    [layer_dir] = store.layer_dirs(image)
    return {str(p.relative_to(layer_dir)): p.read_bytes() for p in layer_dir.rglob("*") if p.is_file()}


@pytest.mark.parametrize("server", SERVERS)
def test_push_pull_round_trip_cli(server: str, registry, store: Store, tmp_path: Path) -> None:
    host = registry(server)
    ref = f"{host}/app:v1"
    image = make_image(store, [FILES], [ref])
    first = run_freight(store.root, "push", ref)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == f"The push refers to repository [{host}/app]"
    assert lines[1] == f"{image.diff_ids[0][7:19]}: Pushed"
    tag, _, digest, _, size = lines[-1].split()
    assert tag == "v1:" and int(size) > 0
    again = run_freight(store.root, "push", ref)
    assert f"{image.diff_ids[0][7:19]}: Layer already exists" in again.stdout
    assert again.stdout.splitlines()[-1] == lines[-1]  # same manifest digest: deterministic gzip
    assert f"{host}/app@{digest}" in store.resolve_image(ref).repo_digests

    other = open_store(tmp_path / "other")
    pulled = run_freight(other.root, "pull", ref)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.splitlines() == [
        "v1: Pulling from app", f"{_blob_of(other, ref)[7:19]}: Pull complete", f"Digest: {digest}",
        f"Status: Downloaded newer image for {ref}", ref]
    got = other.resolve_image(ref)
    assert got.id == image.id and got.manifest_digest == digest
    assert got.layers[0]["mediaType"] == OCI_LAYER_GZIP
    assert _layer_files(other, got) == FILES
    up_to_date = run_freight(other.root, "pull", "-q", ref)
    assert up_to_date.stdout == f"{ref}\n"
    again = run_freight(other.root, "pull", ref)
    assert f"Status: Image is up to date for {ref}" in again.stdout
    assert "Already exists" in again.stdout

    # A pulled image (compressed layers) goes back out bit for bit, its layer mounted.
    moved = run_freight(other.root, "push", ref, f"{host}/copy:v1")
    assert moved.returncode == 0, moved.stderr
    assert "Mounted from app" in moved.stdout or "Layer already exists" in moved.stdout
    assert moved.stdout.splitlines()[-1] == f"v1: digest: {digest} size: {size}"


def _blob_of(store: Store, ref: str) -> str:
    return store.resolve_image(ref).layers[0]["digest"]


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("chunk_size", [0, 40_000])
def test_monolithic_and_chunked_uploads(server: str, chunk_size: int, registry, store: Store,
                                        tmp_path: Path) -> None:
    host = registry(server)
    ref = f"{host}/chunks:latest"
    image = make_image(store, [{"big": os.urandom(300_000)}], [ref])
    digest = push(store, ref, chunk_size=chunk_size)
    other = open_store(tmp_path / "other")
    got = pull(other, ref)
    assert got.id == image.id and got.manifest_digest == digest
    assert other.blobs.verify(got.layers[0]["digest"])


@pytest.mark.parametrize("server", SERVERS)
def test_htpasswd_login_push_pull(server: str, registry, store: Store, tmp_path: Path,
                                  docker_config: Path) -> None:
    host = registry(server, htpasswd=write_htpasswd(tmp_path / "htpasswd", "alice", "s3cret"))
    ref = f"{host}/private:v1"
    image = make_image(store, [FILES], [ref])
    denied = run_freight(store.root, "push", ref)
    assert denied.returncode == 1
    assert denied.stderr.strip().endswith("unauthorized: authentication required")
    assert "Traceback" not in denied.stderr
    wrong = run_freight(store.root, "login", "-u", "alice", "--password-stdin", host, input="nope\n")
    assert wrong.returncode == 1 and "unauthorized" in wrong.stderr
    assert not (docker_config / "config.json").exists()
    ok = run_freight(store.root, "login", "-u", "alice", "--password-stdin", host, input="s3cret\n")
    assert ok.returncode == 0 and ok.stdout.strip() == "Login Succeeded"
    saved = json.loads((docker_config / "config.json").read_text())
    assert saved["auths"][host]["auth"] == "YWxpY2U6czNjcmV0"  # base64("alice:s3cret")
    assert run_freight(store.root, "push", ref).returncode == 0
    other = open_store(tmp_path / "other")
    assert run_freight(other.root, "pull", "-q", ref).stdout == f"{ref}\n"
    assert other.resolve_image(ref).id == image.id
    out = run_freight(store.root, "logout", host)
    assert out.stdout.strip() == f"Removing login credentials for {host}"
    assert host not in json.loads((docker_config / "config.json").read_text())["auths"]
    anonymous = run_freight(open_store(tmp_path / "third").root, "pull", ref)
    assert anonymous.returncode == 1 and "unauthorized: authentication required" in anonymous.stderr


@pytest.mark.parametrize("server", SERVERS)
def test_manifest_unknown(server: str, registry, store: Store) -> None:
    host = registry(server)
    result = run_freight(store.root, "pull", f"{host}/nothing:latest")
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith(f"Error: manifest for {host}/nothing:latest not found: manifest unknown: ")
    assert store.images.all() == []


def test_unreachable_registry(store: Store) -> None:
    port = free_port()
    result = run_freight(store.root, "pull", f"127.0.0.1:{port}/app")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == \
        f'Error: Get "http://127.0.0.1:{port}/v2/": connection refused'


# -- multi-platform --------------------------------------------------------------------------


def _upload(registry: Registry, repo: str, data: bytes) -> dict:
    digest = sha256_bytes(data)
    path = Path(f"/tmp/freight-test-blob-{os.getpid()}-{digest[7:19]}")
    path.write_bytes(data)
    try:
        registry.upload_blob(repo, digest, len(data), lambda: path.open("rb"))
    finally:
        path.unlink()
    return {"digest": digest, "size": len(data)}


KINDS = {
    "oci": (OCI_INDEX, OCI_MANIFEST, "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar"),
    "docker": ("application/vnd.docker.distribution.manifest.list.v2+json",
               "application/vnd.docker.distribution.manifest.v2+json",
               "application/vnd.docker.container.image.v1+json",
               "application/vnd.docker.image.rootfs.diff.tar"),
}


def _push_index(host: str, repo: str, tag: str, store: Store, kind: str = "oci") -> dict[str, str]:
    """Push a two-platform index (OCI index or Docker manifest list) by hand; return {arch: config}."""
    index_type, manifest_type, config_type, layer_type = KINDS[kind]
    configs = {}
    entries = []
    with Registry(host) as reg:
        reg.ping()
        for arch in ("amd64", "arm64"):
            image = make_image(store, [{f"which-{arch}": arch.encode()}], [f"local/{arch}:x"], arch=arch)
            layer = _upload(reg, repo, store.blobs.read(image.layers[0]["digest"]))
            config = _upload(reg, repo, store.blobs.read(image.id))
            manifest = canonical_json({"schemaVersion": 2, "mediaType": manifest_type,
                                       "config": descriptor(config_type, config["digest"], config["size"]),
                                       "layers": [descriptor(layer_type, layer["digest"], layer["size"])]})
            digest = reg.put_manifest(repo, sha256_bytes(manifest), manifest, manifest_type)
            entries.append(descriptor(manifest_type, digest, len(manifest),
                                      platform={"architecture": arch, "os": "linux"}))
            configs[arch] = image.id
        index = canonical_json({"schemaVersion": 2, "mediaType": index_type, "manifests": entries})
        reg.put_manifest(repo, tag, index, index_type)
    return configs


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("kind", ["oci", "docker"])
def test_multi_platform_index(server: str, kind: str, registry, store: Store, tmp_path: Path) -> None:
    host = registry(server)
    configs = _push_index(host, "multi", "latest", store, kind)
    ref = f"{host}/multi:latest"
    native = open_store(tmp_path / "native")
    assert run_freight(native.root, "pull", ref).returncode == 0
    assert native.resolve_image(ref).id == configs[host_platform()["architecture"]]
    other_arch = "arm64" if host_platform()["architecture"] != "arm64" else "amd64"
    foreign = open_store(tmp_path / "foreign")
    result = run_freight(foreign.root, "pull", "--platform", f"linux/{other_arch}", ref)
    assert result.returncode == 0, result.stderr
    image = foreign.resolve_image(ref)
    assert image.id == configs[other_arch]
    assert _layer_files(foreign, image) == {f"which-{other_arch}": other_arch.encode()}
    # The repo digest is the index's, as Docker records it.
    index_digest = result.stdout.splitlines()[-3].split()[1]
    assert image.repo_digests == [f"{host}/multi@{index_digest}"]
    missing = run_freight(open_store(tmp_path / "none").root, "pull", "--platform", "linux/s390x", ref)
    assert missing.returncode == 1
    assert "no matching manifest for linux/s390x in the manifest list entries" in missing.stderr
    # By digest: the platform manifest itself, untagged, verified against the digest asked for.
    by_digest = open_store(tmp_path / "digest")
    named = f"{host}/multi@{image.manifest_digest}"
    result = run_freight(by_digest.root, "pull", named)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"{image.manifest_digest}: Pulling from multi"
    assert result.stdout.splitlines()[-1] == named
    got = by_digest.resolve_image(named)
    assert got.id == image.id and got.repo_tags == []


# -- skopeo interoperability ----------------------------------------------------------------


def _skopeo(*args: str) -> str:
    result = skopeo(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("server", SERVERS)
def test_skopeo_reads_what_freight_pushes(server: str, registry, store: Store, tmp_path: Path) -> None:
    host = registry(server)
    ref = f"{host}/app:v1"
    make_image(store, [FILES], [ref])
    digest = push(store, ref)
    raw = _skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}")
    assert sha256_bytes(raw.encode()) == digest
    _skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{tmp_path / 'layout'}:v1")
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest


@pytest.mark.parametrize("source_server", SERVERS)
@pytest.mark.parametrize("dest_server", SERVERS)
def test_skopeo_copy_between_registries_then_freight_pulls(source_server: str, dest_server: str, registry,
                                                           store: Store, tmp_path: Path) -> None:
    source = registry(source_server)
    dest = registry(dest_server) if dest_server != source_server else source
    image = make_image(store, [FILES], [f"{source}/app:v1"])
    digest = push(store, f"{source}/app:v1")
    _skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
            f"docker://{source}/app:v1", f"docker://{dest}/copied:v2")
    other = open_store(tmp_path / "other")
    got = pull(other, f"{dest}/copied:v2")
    assert got.id == image.id and got.manifest_digest == digest


@pytest.mark.parametrize("server", SERVERS)
def test_freight_pulls_skopeo_pushed_oci_layout(server: str, registry, store: Store, tmp_path: Path) -> None:
    """skopeo pushes an uncompressed OCI layout freight wrote; freight pulls it back unchanged."""
    host = registry(server)
    image = make_image(store, [FILES], ["local/app:v1"])
    assert run_freight(store.root, "push", "local/app:v1", f"oci:{tmp_path / 'layout'}:v1").returncode == 0
    _skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:v1", f"docker://{host}/fromoci:v1")
    other = open_store(tmp_path / "other")
    got = pull(other, f"{host}/fromoci:v1")
    assert got.id == image.id
    assert _layer_files(other, got) == FILES


# -- archive transports ----------------------------------------------------------------------


@pytest.mark.parametrize("dest", ["oci:{tmp}/layout", "oci:{tmp}/layout:v1", "oci-archive:{tmp}/image.tar:v1",
                                  "docker-archive:{tmp}/docker.tar", "docker-archive:{tmp}/d.tar:example.com/x:v2"])
def test_archive_transports_round_trip(dest: str, store: Store, tmp_path: Path) -> None:
    image = make_image(store, [FILES], ["local/app:v1"])
    target = dest.format(tmp=tmp_path)
    pushed = run_freight(store.root, "push", "local/app:v1", target)
    assert pushed.returncode == 0, pushed.stderr
    other = open_store(tmp_path / "other")
    pulled = run_freight(other.root, "pull", target)
    assert pulled.returncode == 0, pulled.stderr
    got = other.images.get(image.id)
    assert got is not None and got.manifest_digest == image.manifest_digest
    if target.endswith(":example.com/x:v2"):
        assert got.repo_tags == ["example.com/x:v2"]
    if target.startswith("oci-archive:"):
        _skopeo("inspect", target)  # skopeo reads what freight wrote


def test_pull_oci_layout_written_by_skopeo(registry, store: Store, tmp_path: Path) -> None:
    host = registry("freight")
    image = make_image(store, [FILES], [f"{host}/app:v1"])
    push(store, f"{host}/app:v1")
    _skopeo("copy", "--src-tls-verify=false", f"docker://{host}/app:v1", f"oci-archive:{tmp_path / 'a.tar'}:v1")
    other = open_store(tmp_path / "other")
    got = pull(other, f"oci-archive:{tmp_path / 'a.tar'}:v1")
    assert got.id == image.id
    missing = run_freight(other.root, "pull", f"oci-archive:{tmp_path / 'a.tar'}:nope")
    assert missing.returncode == 1 and "no descriptor found for reference" in missing.stderr


def test_bad_transport_paths(store: Store, tmp_path: Path) -> None:
    result = run_freight(store.root, "pull", f"oci:{tmp_path / 'missing'}")
    assert result.returncode == 1 and result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr




def test_pull_all_tags(registry, store: Store, tmp_path: Path) -> None:
    host = registry("freight")
    one = make_image(store, [{"one": b"1"}], [f"{host}/tags:one"])
    two = make_image(store, [{"two": b"2"}], [f"{host}/tags:two"])
    push(store, f"{host}/tags:one")
    push(store, f"{host}/tags:two")
    other = open_store(tmp_path / "other")
    result = run_freight(other.root, "pull", "--all-tags", f"{host}/tags")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"{host}/tags"
    assert other.resolve_image(f"{host}/tags:one").id == one.id
    assert other.resolve_image(f"{host}/tags:two").id == two.id
    refused = run_freight(other.root, "pull", "-a", f"{host}/tags:one")
    assert refused.returncode == 1 and "tag can't be used with --all-tags/-a" in refused.stderr


def test_ensure_image_pulls_only_when_missing(registry, store: Store, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from freight.registry.pull import ensure_image

    host = registry("freight")
    image = make_image(store, [FILES], [f"{host}/run:v1"])
    push(store, f"{host}/run:v1")
    other = open_store(tmp_path / "other")
    got = ensure_image(other, f"{host}/run:v1")
    assert got.id == image.id
    err = capsys.readouterr().err
    assert err.startswith(f"Unable to find image '{host}/run:v1' locally\n")
    assert f"Status: Downloaded newer image for {host}/run:v1" in err
    assert ensure_image(other, f"{host}/run:v1").id == image.id
    assert capsys.readouterr().err == ""


def test_push_errors_and_quiet(registry, store: Store) -> None:
    host = registry("freight")
    missing = run_freight(store.root, "push", f"{host}/absent:v1")
    assert missing.returncode == 1
    assert missing.stderr == f"Error: An image does not exist locally with the tag: {host}/absent:v1\n"
    make_image(store, [{"q": b"q"}], [f"{host}/quiet:v1"])
    quiet = run_freight(store.root, "push", "-q", f"{host}/quiet:v1")
    assert quiet.returncode == 0 and quiet.stdout == f"{host}/quiet:v1\n"
    pulled = run_freight(open_store(store.root.parent / "q").root, "pull", f"{host}/quiet")
    assert pulled.stdout.splitlines()[0] == "Using default tag: latest"
    assert pulled.returncode == 1 and "manifest for" in pulled.stderr


def test_progress_bars_on_a_terminal(registry, store: Store, tmp_path: Path) -> None:
    """On a terminal pull draws per-layer bars (rich) and still ends with the reference."""
    import pty

    host = registry("freight")
    ref = f"{host}/tty:v1"
    make_image(store, [FILES], [ref])
    push(store, ref)
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run([str(FREIGHT), "--root",
                               str(open_store(tmp_path / "other").root), "pull", ref],
                              stdout=secondary, stderr=subprocess.PIPE, timeout=60,
                              env={**os.environ, "COLUMNS": "100", "TERM": "xterm"})
        os.close(secondary)
        output = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(primary)
    assert proc.returncode == 0, proc.stderr
    text = output.decode(errors="replace")
    assert "\x1b[" in text  # drawn, not printed line by line
    assert "Pull complete" in text and "Pulling fs layer" in text
    assert text.rstrip().endswith(ref)


def test_push_all_tags(registry, store: Store, tmp_path: Path) -> None:
    host = registry("freight")
    make_image(store, [{"a": b"a"}], [f"{host}/many:a"])
    make_image(store, [{"b": b"b"}], [f"{host}/many:b"])
    make_image(store, [{"c": b"c"}], [f"{host}/other:c"])
    result = run_freight(store.root, "push", "--all-tags", f"{host}/many")
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines() if ": digest: " in line] == ["a", "b"]
    with Registry(host) as reg:
        reg.ping()
        assert sorted(reg.tags("many")) == ["a", "b"]
    refused = run_freight(store.root, "push", "-a", f"{host}/many:a")
    assert refused.returncode == 1 and "tag can't be used with --all-tags/-a" in refused.stderr


# -- uncompressed layers, which the store keeps encoded ---------------------------------------


def test_push_is_the_same_whether_layers_are_kept_encoded_or_plain(registry, store: Store, tmp_path: Path) -> None:
    """An image whose layer the store keeps encoded pushes the manifest and gzip blob that the same
    image with its layer kept plain (stores made before) pushes, and that gzip of the tar gives."""
    from freight.store.compression import gzip_compress

    host = registry("freight")
    files = {"text": b"a line of text\n" * 100_000, "random": os.urandom(500_000)}
    image = make_image(store, [files], [f"{host}/encoded:v1"])
    plain_store = open_store(tmp_path / "plain")
    plain = make_image(plain_store, [files], [f"{host}/plain:v1"], encode=False)
    diff_id = image.diff_ids[0]
    assert plain.id == image.id and plain_store.blobs.path(diff_id).is_file()
    assert (store.blobs.dir / (diff_id[7:] + SUFFIX)).is_file() and not store.blobs.path(diff_id).exists()
    tar = store.blobs.read(diff_id)
    assert sha256_bytes(tar) == diff_id
    gzipped = io.BytesIO()
    gzip_compress(io.BytesIO(tar), gzipped)
    assert push(store, f"{host}/encoded:v1") == push(plain_store, f"{host}/plain:v1")
    with Registry(host) as reg:
        reg.ping()
        data, _, _ = reg.get_manifest("encoded", "v1")
    assert json.loads(data)["layers"][0]["digest"] == sha256_bytes(gzipped.getvalue())


@pytest.mark.parametrize("chunk_size", [0, 400_000])
def test_uncompressed_layer_goes_up_and_comes_down_as_it_is(registry, store: Store, tmp_path: Path,
                                                             chunk_size: int) -> None:
    """A registry may hold plain tar layers (skopeo pushes them so): an encoded blob uploads as its
    original bytes, in chunks too, and a pull keeps such a layer encoded."""
    host = registry("freight")
    image = make_image(store, [{"text": b"a line of text\n" * 100_000}], ["local/plain:v1"])
    diff_id = image.diff_ids[0]
    with Registry(host) as reg:
        reg.ping()
        for digest in [image.id, diff_id]:
            reg.upload_blob("plain", digest, store.blobs.size(digest), lambda d=digest: store.blobs.open(d),
                            chunk_size)
        pushed = reg.put_manifest("plain", "v1", store.blobs.read(image.manifest_digest),
                                  image.manifest["mediaType"])
    assert pushed == image.manifest_digest
    other = open_store(tmp_path / "other")
    got = pull(other, f"{host}/plain:v1")
    assert (got.id, got.manifest_digest) == (image.id, image.manifest_digest)
    assert (other.blobs.dir / (diff_id[7:] + SUFFIX)).is_file()
    assert other.blobs.disk_size(diff_id) < other.blobs.size(diff_id) // 20
    assert other.blobs.read(diff_id) == store.blobs.read(diff_id) and other.blobs.verify(diff_id)
    assert _layer_files(other, got) == {"text": b"a line of text\n" * 100_000}
