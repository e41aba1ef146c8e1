"""skopeo copies into and out of `freight registry serve`, and to and from the CNCF registry."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
from imagelib import make_oci_layout
from registries import RegistryProcess, skopeo_copy, write_htpasswd


def manifest_digest(server: RegistryProcess, repo: str, tag: str,
                    auth: tuple[str, str] | None = None) -> str:
    r = httpx.get(f"{server.url}/v2/{repo}/manifests/{tag}", verify=False, auth=auth,
                  headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 200, r.text
    return r.headers["Docker-Content-Digest"]


def layout_digest(folder: Path) -> str:
    return json.loads((folder / "index.json").read_text())["manifests"][0]["digest"]


def test_skopeo_round_trip(registry_server: RegistryProcess, oci_image: tuple[Path, str],
                           tmp_path: Path) -> None:
    folder, digest = oci_image
    pushed = skopeo_copy(f"oci:{folder}:latest", f"docker://{registry_server.host}/sk/app:v1")
    assert pushed.returncode == 0, pushed.stderr
    assert manifest_digest(registry_server, "sk/app", "v1") == digest

    again = skopeo_copy(f"oci:{folder}:latest", f"docker://{registry_server.host}/sk/app:v2")
    assert again.returncode == 0, again.stderr  # every blob already there

    out = tmp_path / "pulled"
    pulled = skopeo_copy(f"docker://{registry_server.host}/sk/app:v1", f"oci:{out}:latest")
    assert pulled.returncode == 0, pulled.stderr
    assert layout_digest(out) == digest
    for blob in (folder / "blobs" / "sha256").iterdir():
        assert (out / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()


def test_skopeo_between_freight_and_cncf(registry_server: RegistryProcess,
                                         cncf_registry: RegistryProcess,
                                         oci_image: tuple[Path, str]) -> None:
    folder, digest = oci_image
    assert skopeo_copy(f"oci:{folder}:latest",
                       f"docker://{registry_server.host}/interop/app:one").returncode == 0
    to_cncf = skopeo_copy(f"docker://{registry_server.host}/interop/app:one",
                          f"docker://{cncf_registry.host}/interop/app:one")
    assert to_cncf.returncode == 0, to_cncf.stderr
    assert manifest_digest(cncf_registry, "interop/app", "one") == digest

    back = skopeo_copy(f"docker://{cncf_registry.host}/interop/app:one",
                       f"docker://{registry_server.host}/interop/back:two")
    assert back.returncode == 0, back.stderr
    assert manifest_digest(registry_server, "interop/back", "two") == digest


def test_skopeo_with_htpasswd_and_tls(start_registry, oci_image: tuple[Path, str],
                                      tmp_path: Path) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", "alice", "s3cret")
    server = start_registry("--htpasswd", str(htpasswd), tls=True)
    folder, digest = oci_image
    ref = f"docker://{server.host}/private/app:v1"

    denied = skopeo_copy(f"oci:{folder}:latest", ref)
    assert denied.returncode != 0
    wrong = skopeo_copy(f"oci:{folder}:latest", ref, "--dest-creds", "alice:nope")
    assert wrong.returncode != 0
    pushed = skopeo_copy(f"oci:{folder}:latest", ref, "--dest-creds", "alice:s3cret")
    assert pushed.returncode == 0, pushed.stderr
    assert manifest_digest(server, "private/app", "v1", auth=("alice", "s3cret")) == digest

    out = tmp_path / "pulled"
    pulled = skopeo_copy(ref, f"oci:{out}:latest", "--src-creds", "alice:s3cret")
    assert pulled.returncode == 0, pulled.stderr
    assert layout_digest(out) == digest


def test_skopeo_big_layer(registry_server: RegistryProcess, tmp_path: Path) -> None:
    """A layer of several MiB (many write pieces on the server) arrives intact."""
    folder = tmp_path / "big"
    data = os.urandom(6 * 1024 * 1024)
    digest = make_oci_layout(folder, {"big.bin": data, "small": b"x"})
    pushed = skopeo_copy(f"oci:{folder}:latest", f"docker://{registry_server.host}/sk/big:1")
    assert pushed.returncode == 0, pushed.stderr
    assert manifest_digest(registry_server, "sk/big", "1") == digest
