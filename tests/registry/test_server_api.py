"""Conformance-style tests of `freight registry serve`: every endpoint and malformed input.

All run against one shared server process; each test uses its own repository names.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from imagelib import sha256_digest
from registries import RegistryProcess
from testlib import wait_until

from freight.image.mediatypes import OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def client(registry_server: RegistryProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry_server.url, timeout=30) as c:
        yield c


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name of this test's own."""
    return "conf/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")


def error_code(response: httpx.Response) -> str:
    body = response.json()
    [error] = body["errors"]
    assert set(error) == {"code", "message", "detail"} and error["message"]
    return error["code"]


def push_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    digest = sha256_digest(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    return digest


def descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)}


def image_manifest(client: httpx.Client, repo: str, layer: bytes = b"layer",
                   **extra: object) -> bytes:
    """Push a config and a layer and return a manifest (bytes) that references them."""
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}, "layer": len(layer)}).encode()
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": descriptor(OCI_CONFIG, config),
                       "layers": [descriptor(OCI_LAYER_GZIP, layer)], **extra}).encode()


def put_manifest(client: httpx.Client, repo: str, ref: str, data: bytes | Iterator[bytes],
                 media_type: str = OCI_MANIFEST) -> httpx.Response:
    return client.put(f"/v2/{repo}/manifests/{ref}", content=data,
                      headers={"Content-Type": media_type})


# base -------------------------------------------------------------------------------------


def test_base_endpoint(client: httpx.Client) -> None:
    r = client.get("/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert r.json() == {}


def test_head_answers_wherever_get_does(client: httpx.Client, repo: str) -> None:
    push_blob(client, repo, b"head")
    for path in ("/v2/", "/v2/_catalog", f"/v2/{repo}/tags/list",
                 f"/v2/{repo}/referrers/{sha256_digest(b'head')}"):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"" and head.headers["Content-Length"] == str(len(get.content))


def test_unknown_path_is_404(client: httpx.Client) -> None:
    assert client.get("/v3/").status_code == 404
    assert client.get("/v2/foo/bar").status_code == 404


def test_method_not_allowed_is_unsupported(client: httpx.Client, repo: str) -> None:
    r = client.post(f"/v2/{repo}/tags/list")
    assert r.status_code == 405 and error_code(r) == "UNSUPPORTED"


# blobs ------------------------------------------------------------------------------------


def test_monolithic_push_then_head_get_and_range(client: httpx.Client, repo: str) -> None:
    data = os.urandom(3000)
    digest = sha256_digest(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/{repo}/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest

    head = client.head(f"/v2/{repo}/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["Content-Length"] == "3000"
    assert head.headers["Docker-Content-Digest"] == digest
    get = client.get(f"/v2/{repo}/blobs/{digest}")
    assert get.status_code == 200 and get.content == data
    assert get.headers["Docker-Content-Digest"] == digest
    part = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == data[100:200]
    assert part.headers["Content-Length"] == "100"
    assert part.headers["Content-Range"] == "bytes 100-199/3000"


def test_blob_is_visible_only_in_repos_that_have_it(client: httpx.Client, repo: str) -> None:
    digest = push_blob(client, repo, b"only here")
    r = client.get(f"/v2/{repo}-other/blobs/{digest}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"
    assert client.head(f"/v2/{repo}-other/blobs/{digest}").status_code == 404


def test_chunked_upload(client: httpx.Client, repo: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # crosses the server's 1 MiB write pieces
    first, second, last = data[:1_500_000], data[1_500_000:3_000_000], data[3_000_000:]
    start = client.post(f"/v2/{repo}/blobs/uploads/")
    assert start.status_code == 202
    location, upload_id = start.headers["Location"], start.headers["Docker-Upload-UUID"]
    assert location.endswith(upload_id) and start.headers["Range"] == "0-0"

    r = client.patch(location, content=first, headers={
        "Content-Range": f"0-{len(first) - 1}", "Content-Type": "application/octet-stream"})
    assert r.status_code == 202
    assert r.headers["Range"] == f"0-{len(first) - 1}"
    assert r.headers["Docker-Upload-UUID"] == upload_id
    location = r.headers["Location"]

    status = client.get(location)
    assert status.status_code == 204 and status.headers["Range"] == f"0-{len(first) - 1}"

    out_of_order = client.patch(location, content=second, headers={
        "Content-Range": f"10-{9 + len(second)}"})
    assert out_of_order.status_code == 416
    assert error_code(out_of_order) == "BLOB_UPLOAD_INVALID"
    assert out_of_order.headers["Range"] == f"0-{len(first) - 1}"

    def stream() -> Iterator[bytes]:  # no Content-Length, no Content-Range: chunked body
        yield second[:1000]
        yield second[1000:]

    r = client.patch(location, content=stream())
    assert r.status_code == 202 and r.headers["Range"] == f"0-{3_000_000 - 1}"

    digest = sha256_digest(data)
    done = client.put(location, params={"digest": digest}, content=last,
                      headers={"Content-Range": f"3000000-{len(data) - 1}"})
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == digest
    assert done.headers["Location"] == f"/v2/{repo}/blobs/{digest}"
    assert client.get(f"/v2/{repo}/blobs/{digest}").content == data
    gone = client.get(location)
    assert gone.status_code == 404 and error_code(gone) == "BLOB_UPLOAD_UNKNOWN"


def test_bad_content_range(client: httpx.Client, repo: str) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
    r = client.patch(location, content=b"abc", headers={"Content-Range": "zero-two"})
    assert r.status_code == 400 and error_code(r) == "BLOB_UPLOAD_INVALID"
    r = client.patch(location, content=b"abc", headers={"Content-Range": "0-9"})
    assert r.status_code == 400 and error_code(r) == "SIZE_INVALID"
    r = client.patch(location, content=b"abc", headers={"Content-Range": "5-3"})
    assert r.status_code == 416
    assert client.get(location).headers["Range"] == "0-0"  # nothing was written


def test_put_with_wrong_digest_stores_nothing(client: httpx.Client, repo: str,
                                              registry_server: RegistryProcess) -> None:
    claimed = sha256_digest(b"something else")
    location = client.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
    r = client.put(location, params={"digest": claimed}, content=b"the real bytes")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    assert client.head(f"/v2/{repo}/blobs/{claimed}").status_code == 404
    assert not (registry_server.root / "blobs" / "sha256" / claimed[7:]).exists()
    assert not (registry_server.root / "uploads" / location.rsplit("/", 1)[1]).exists()

    monolithic = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": claimed},
                             content=b"other bytes")
    assert monolithic.status_code == 400 and error_code(monolithic) == "DIGEST_INVALID"
    assert client.head(f"/v2/{repo}/blobs/{claimed}").status_code == 404


@pytest.mark.parametrize("digest", [None, "", "sha256:abc", "sha256:" + "G" * 64,
                                    "sha256:" + "A" * 64, "md5:" + "a" * 32,
                                    "sha512:" + "a" * 64])
def test_put_with_missing_or_malformed_digest(client: httpx.Client, repo: str,
                                              digest: str | None) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
    params = {} if digest is None else {"digest": digest}
    r = client.put(location, params=params, content=b"x")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"


def test_sha512_blob(client: httpx.Client, repo: str) -> None:
    import hashlib

    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == digest
    assert client.get(f"/v2/{repo}/blobs/{digest}").content == data


def test_cancel_upload(client: httpx.Client, repo: str) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
    assert client.patch(location, content=b"partial").status_code == 202
    assert client.delete(location).status_code == 204
    r = client.get(location)
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    assert client.delete(location).status_code == 404


@pytest.mark.parametrize("upload_id", ["not-a-uuid", "0b8e2d4c-0000-4000-8000-000000000000"])
def test_unknown_upload(client: httpx.Client, repo: str, upload_id: str) -> None:
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        r = client.request(method, f"/v2/{repo}/blobs/uploads/{upload_id}",
                           params={"digest": sha256_digest(b"")})
        assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN", method


def test_upload_belongs_to_its_repository(client: httpx.Client, repo: str) -> None:
    upload_id = client.post(f"/v2/{repo}/blobs/uploads/").headers["Docker-Upload-UUID"]
    r = client.get(f"/v2/{repo}-other/blobs/uploads/{upload_id}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_cross_repository_mount(client: httpx.Client, repo: str) -> None:
    digest = push_blob(client, repo, b"mount me")
    r = client.post(f"/v2/{repo}-copy/blobs/uploads/", params={"mount": digest, "from": repo})
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/{repo}-copy/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    assert client.get(f"/v2/{repo}-copy/blobs/{digest}").content == b"mount me"

    missing = sha256_digest(b"not pushed")
    fallback = client.post(f"/v2/{repo}-copy/blobs/uploads/", params={"mount": missing, "from": repo})
    assert fallback.status_code == 202 and "Docker-Upload-UUID" in fallback.headers
    elsewhere = client.post(f"/v2/{repo}-third/blobs/uploads/",
                            params={"mount": digest, "from": f"{repo}-nothing"})
    assert elsewhere.status_code == 202  # the source does not have it: an upload session
    bad = client.post(f"/v2/{repo}-copy/blobs/uploads/", params={"mount": "sha256:12", "from": repo})
    assert bad.status_code == 400 and error_code(bad) == "DIGEST_INVALID"


def test_delete_blob(client: httpx.Client, repo: str) -> None:
    digest = push_blob(client, repo, b"delete me")
    assert client.delete(f"/v2/{repo}/blobs/{digest}").status_code == 202
    assert client.head(f"/v2/{repo}/blobs/{digest}").status_code == 404
    r = client.delete(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"


@pytest.mark.parametrize("name", ["UPPER", "a..b", "-lead", "trail-", "a//b", "a/_b", "a__-b",
                                  "x" * 256])
def test_invalid_repository_names(client: httpx.Client, name: str) -> None:
    digest = sha256_digest(b"")
    for method, path in [("GET", f"/v2/{name}/tags/list"), ("HEAD", f"/v2/{name}/blobs/{digest}"),
                         ("GET", f"/v2/{name}/manifests/latest"),
                         ("POST", f"/v2/{name}/blobs/uploads/")]:
        r = client.request(method, path)
        assert r.status_code == 400, (method, path)
        if method != "HEAD":
            assert error_code(r) == "NAME_INVALID"


def test_valid_unusual_names(client: httpx.Client) -> None:
    for name in ["a", "a.b_c__d---e/f0", "x" * 255]:
        assert client.post(f"/v2/{name}/blobs/uploads/").status_code == 202, name


@pytest.mark.parametrize("digest", ["sha256:abc", "sha256:" + "Z" * 64, "sha256:" + "A" * 64,
                                    "sha1:" + "a" * 40, "sha512:" + "a" * 64, "latest"])
def test_invalid_blob_digests(client: httpx.Client, repo: str, digest: str) -> None:
    r = client.get(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    r = client.get(f"/v2/{repo}/referrers/{digest}")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"


# manifests --------------------------------------------------------------------------------


def test_manifest_by_tag_and_digest(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo).replace(b", ", b",   ")  # exact bytes are kept
    digest = sha256_digest(manifest)
    r = put_manifest(client, repo, "v1", manifest)
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Location"] == f"/v2/{repo}/manifests/{digest}"
    assert "OCI-Subject" not in r.headers
    for ref in ("v1", digest):
        got = client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert got.status_code == 200 and got.content == manifest
        assert got.headers["Content-Type"] == OCI_MANIFEST
        assert got.headers["Docker-Content-Digest"] == digest
        head = client.head(f"/v2/{repo}/manifests/{ref}")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["Content-Length"] == str(len(manifest))
        assert head.headers["Docker-Content-Digest"] == digest


def test_manifest_put_by_digest(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    digest = sha256_digest(manifest)
    r = put_manifest(client, repo, digest, manifest)
    assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == digest
    wrong = put_manifest(client, repo, sha256_digest(b"other"), manifest)
    assert wrong.status_code == 400 and error_code(wrong) == "DIGEST_INVALID"
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []


def test_manifest_media_type_from_content(client: httpx.Client, repo: str) -> None:
    docker = json.loads(image_manifest(client, repo))
    docker["mediaType"] = DOCKER_MANIFEST
    data = json.dumps(docker).encode()
    assert put_manifest(client, repo, "docker", data, DOCKER_MANIFEST).status_code == 201
    assert client.get(f"/v2/{repo}/manifests/docker").headers["Content-Type"] == DOCKER_MANIFEST
    untyped = json.loads(image_manifest(client, repo))
    del untyped["mediaType"]
    assert put_manifest(client, repo, "untyped", json.dumps(untyped).encode()).status_code == 201
    assert client.get(f"/v2/{repo}/manifests/untyped").headers["Content-Type"] == OCI_MANIFEST


def test_manifest_referencing_unknown_blobs(client: httpx.Client, repo: str) -> None:
    manifest = json.loads(image_manifest(client, repo))
    unknown_layer = dict(manifest, layers=[descriptor(OCI_LAYER_GZIP, b"never pushed")])
    r = put_manifest(client, repo, "v1", json.dumps(unknown_layer).encode())
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert r.json()["errors"][0]["detail"] == {"digest": sha256_digest(b"never pushed")}
    unknown_config = dict(manifest, config=descriptor(OCI_CONFIG, b"{}never"))
    r = put_manifest(client, repo, "v1", json.dumps(unknown_config).encode())
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    r = put_manifest(client, f"{repo}-other", "v1", json.dumps(manifest).encode())
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    r = client.get(f"/v2/{repo}/manifests/v1")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"


def test_invalid_manifests(client: httpx.Client, repo: str) -> None:
    good = json.loads(image_manifest(client, repo))
    bad_descriptor = dict(good, layers=[{"mediaType": OCI_LAYER_GZIP, "digest": "sha256:12",
                                         "size": 1}])
    cases = [b"not json", b"[1, 2]", json.dumps(dict(good, schemaVersion=1)).encode(),
             json.dumps({k: v for k, v in good.items() if k != "config"}).encode(),
             json.dumps(dict(good, layers="nope")).encode(), json.dumps(bad_descriptor).encode(),
             json.dumps(dict(good, mediaType="application/x-unknown")).encode()]
    for data in cases:
        r = put_manifest(client, repo, "v1", data)
        assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID", data
    mismatched = put_manifest(client, repo, "v1", json.dumps(good).encode(), OCI_INDEX)
    assert mismatched.status_code == 400 and error_code(mismatched) == "MANIFEST_INVALID"
    bad_tag = put_manifest(client, repo, "-bad-tag", json.dumps(good).encode())
    assert bad_tag.status_code == 400 and error_code(bad_tag) == "MANIFEST_INVALID"
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []


def test_deeply_nested_manifests(registry_server: RegistryProcess, client: httpx.Client,
                                 repo: str) -> None:
    good = json.loads(image_manifest(client, repo))
    past_the_parser = b"[" * 100_000 + b"]" * 100_000
    past_the_limit = json.dumps(dict(good, x=json.loads("[" * 150 + "]" * 150))).encode()
    bad_descriptor = dict(good, layers=[dict(good["layers"][0], mediaType=42, urls=["u"])])
    for data in (past_the_parser, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, past_the_limit,
                 json.dumps(bad_descriptor).encode()):
        r = put_manifest(client, repo, "deep", data)
        assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID", r.text
    assert "Traceback" not in registry_server.log.read_text()
    nested = dict(good, x=json.loads("[" * 90 + "]" * 90))  # deep, but within the limit
    assert put_manifest(client, repo, "nested", json.dumps(nested).encode()).status_code == 201
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["nested"]


def test_manifest_size_limit(client: httpx.Client, repo: str) -> None:
    big = image_manifest(client, repo, annotations={"blob": "x" * (3 * 1024 * 1024)})
    assert put_manifest(client, repo, "big", big).status_code == 201
    assert client.get(f"/v2/{repo}/manifests/big").content == big
    r = put_manifest(client, repo, "huge", b" " * (4 * 1024 * 1024 + 1))
    assert r.status_code == 413 and error_code(r) == "SIZE_INVALID"

    def stream() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        for _ in range(5):
            yield b" " * (1024 * 1024)

    r = put_manifest(client, repo, "huge", stream())  # type: ignore[arg-type]
    assert r.status_code == 413 and error_code(r) == "SIZE_INVALID"


def test_unknown_manifests(client: httpx.Client, repo: str) -> None:
    for ref in ("nope", sha256_digest(b"nope"), "-invalid-tag"):
        r = client.get(f"/v2/{repo}/manifests/{ref}")
        assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN", ref
        assert client.head(f"/v2/{repo}/manifests/{ref}").status_code == 404
    r = client.get(f"/v2/{repo}/manifests/sha256:1234")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"


def test_index(client: httpx.Client, repo: str) -> None:
    child = image_manifest(client, repo)
    assert put_manifest(client, repo, sha256_digest(child), child).status_code == 201
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": [descriptor(OCI_MANIFEST, child)]}).encode()
    r = put_manifest(client, repo, "multi", index, OCI_INDEX)
    assert r.status_code == 201
    got = client.get(f"/v2/{repo}/manifests/multi")
    assert got.content == index and got.headers["Content-Type"] == OCI_INDEX

    dangling = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                           "manifests": [descriptor(OCI_MANIFEST, b"{}")]}).encode()
    r = put_manifest(client, repo, "dangling", dangling, OCI_INDEX)
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    r = put_manifest(client, repo, "broken", b'{"schemaVersion": 2, "manifests": 3}', OCI_INDEX)
    assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID"


def test_delete_manifest_by_tag_and_digest(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    digest = sha256_digest(manifest)
    for tag in ("a", "b", "c"):
        assert put_manifest(client, repo, tag, manifest).status_code == 201
    assert client.delete(f"/v2/{repo}/manifests/a").status_code == 202
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["b", "c"]
    assert client.get(f"/v2/{repo}/manifests/{digest}").status_code == 200
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []
    for ref in ("b", digest):
        r = client.get(f"/v2/{repo}/manifests/{ref}")
        assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
        r = client.delete(f"/v2/{repo}/manifests/{ref}")
        assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"


# listings ---------------------------------------------------------------------------------


def test_tag_list_and_pagination(client: httpx.Client, repo: str) -> None:
    manifest = image_manifest(client, repo)
    tags = ["v10", "latest", "v2", "V1", "_x", "a.b-c"]
    for tag in tags:
        assert put_manifest(client, repo, tag, manifest).status_code == 201
    everything = client.get(f"/v2/{repo}/tags/list")
    assert everything.json() == {"name": repo, "tags": sorted(tags)}
    assert "Link" not in everything.headers

    seen: list[str] = []
    url = f"/v2/{repo}/tags/list?n=4"
    while url:
        page = client.get(url)
        assert page.status_code == 200
        seen += page.json()["tags"]
        link = page.headers.get("Link")
        url = re.fullmatch(r'<(.+)>; rel="next"', link)[1] if link else ""
    assert seen == sorted(tags)
    after = client.get(f"/v2/{repo}/tags/list", params={"n": 2, "last": "latest"}).json()["tags"]
    assert after == ["v10", "v2"]
    assert client.get(f"/v2/{repo}/tags/list", params={"n": 0}).json()["tags"] == []
    assert client.get(f"/v2/{repo}/tags/list", params={"n": "x"}).status_code == 400
    unknown = client.get(f"/v2/{repo}-missing/tags/list")
    assert unknown.status_code == 404 and error_code(unknown) == "NAME_UNKNOWN"


def test_catalog(client: httpx.Client, repo: str) -> None:
    names = [f"{repo}/c{i}" for i in range(3)]
    for name in names:
        push_blob(client, name, b"catalog")
    repos = client.get("/v2/_catalog").json()["repositories"]
    assert set(names) <= set(repos) and repos == sorted(repos)
    first = client.get("/v2/_catalog", params={"n": 1, "last": names[0]})
    assert first.json()["repositories"] == [names[1]]
    assert first.headers["Link"].startswith("</v2/_catalog?n=1&last=")


# referrers --------------------------------------------------------------------------------


def test_referrers(client: httpx.Client, repo: str) -> None:
    subject = image_manifest(client, repo)
    subject_digest = sha256_digest(subject)
    assert put_manifest(client, repo, "v1", subject).status_code == 201
    empty = b"{}"
    push_blob(client, repo, empty)
    signature = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x-signature",
        "config": descriptor("application/vnd.oci.empty.v1+json", empty),
        "layers": [descriptor("application/vnd.oci.empty.v1+json", empty)],
        "subject": descriptor(OCI_MANIFEST, subject), "annotations": {"who": "me"}}).encode()
    r = put_manifest(client, repo, sha256_digest(signature), signature)
    assert r.status_code == 201 and r.headers["OCI-Subject"] == subject_digest
    sbom = image_manifest(client, repo, b"sbom", subject=descriptor(OCI_MANIFEST, subject))
    sbom = sbom.replace(OCI_CONFIG.encode(), b"application/x-sbom")
    push_blob(client, repo, json.dumps({"rootfs": {"type": "layers", "diff_ids": []},
                                        "layer": 4}).encode())
    assert put_manifest(client, repo, sha256_digest(sbom), sbom).status_code == 201

    r = client.get(f"/v2/{repo}/referrers/{subject_digest}")
    assert r.status_code == 200 and r.headers["Content-Type"] == OCI_INDEX
    index = r.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    by_type = {d["artifactType"]: d for d in index["manifests"]}
    assert by_type["application/x-signature"] == {
        "mediaType": OCI_MANIFEST, "digest": sha256_digest(signature), "size": len(signature),
        "artifactType": "application/x-signature", "annotations": {"who": "me"}}
    assert by_type["application/x-sbom"]["digest"] == sha256_digest(sbom)

    filtered = client.get(f"/v2/{repo}/referrers/{subject_digest}",
                          params={"artifactType": "application/x-sbom"})
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in filtered.json()["manifests"]] == [sha256_digest(sbom)]

    none = client.get(f"/v2/{repo}/referrers/{sha256_digest(b'no subject')}")
    assert none.status_code == 200 and none.json()["manifests"] == []

    assert client.delete(f"/v2/{repo}/manifests/{sha256_digest(sbom)}").status_code == 202
    left = client.get(f"/v2/{repo}/referrers/{subject_digest}").json()["manifests"]
    assert [d["digest"] for d in left] == [sha256_digest(signature)]


# server options ---------------------------------------------------------------------------


def test_too_many_uploads(start_registry) -> None:
    server = start_registry("--max-uploads", "2")
    with httpx.Client(base_url=server.url) as c:
        assert c.post("/v2/a/blobs/uploads/").status_code == 202
        assert c.post("/v2/a/blobs/uploads/").status_code == 202
        r = c.post("/v2/a/blobs/uploads/")
        assert r.status_code == 429 and error_code(r) == "TOOMANYREQUESTS"


def test_idle_uploads_expire(start_registry) -> None:
    server = start_registry("--upload-timeout", "0.5")
    with httpx.Client(base_url=server.url) as c:
        location = c.post("/v2/a/blobs/uploads/").headers["Location"]
        assert c.patch(location, content=b"some").status_code == 202
        upload_dir = Path(server.root) / "uploads" / location.rsplit("/", 1)[1]
        assert upload_dir.is_dir()
        wait_until(lambda: not upload_dir.exists(), interval=0.1)
        assert not upload_dir.exists()
        r = c.get(location)
        assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_requests_are_logged(registry_server: RegistryProcess, client: httpx.Client,
                             repo: str) -> None:
    client.get(f"/v2/{repo}/tags/list")
    pattern = re.compile(rf'"GET /v2/{re.escape(repo)}/tags/list" 404 in=0 out=\d+ [\d.]+ms')
    wait_until(lambda: pattern.search(registry_server.log.read_text()), timeout=5)
    assert pattern.search(registry_server.log.read_text())
