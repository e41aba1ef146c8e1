"""Integrity of `freight registry serve`: concurrent pushes, abandoned uploads, crashes."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.registry.conftest import RegistryProcess, sha256_digest


def chunked_push(url: str, repo: str, data: bytes, piece: int = 256 * 1024) -> int:
    """POST + PATCH pieces + PUT; the final status code."""
    with httpx.Client(base_url=url, timeout=60) as c:
        location = c.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
        for start in range(0, len(data), piece):
            chunk = data[start:start + piece]
            r = c.patch(location, content=chunk,
                        headers={"Content-Range": f"{start}-{start + len(chunk) - 1}"})
            assert r.status_code == 202, r.text
            location = r.headers["Location"]
        return c.put(location, params={"digest": sha256_digest(data)}).status_code


def upload_files(root: Path) -> list[Path]:
    return [p for p in (root / "uploads").rglob("*")]


def send_partial_body(server: RegistryProcess, method: str, path: str, total: int,
                      sent: bytes) -> socket.socket:
    """Start a request announcing `total` body bytes and send only `sent` of them."""
    host, port = server.host.split(":")
    sock = socket.create_connection((host, int(port)))
    head = (f"{method} {path} HTTP/1.1\r\nHost: {server.host}\r\nContent-Length: {total}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    sock.sendall(head + sent)
    return sock


def wait_until(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_concurrent_pushes_of_the_same_blob(registry_server: RegistryProcess) -> None:
    data = os.urandom(3 * 1024 * 1024)
    digest = sha256_digest(data)
    repos = ["race/one"] * 4 + ["race/two"] * 4
    with ThreadPoolExecutor(len(repos)) as pool:
        codes = list(pool.map(lambda repo: chunked_push(registry_server.url, repo, data), repos))
    assert codes == [201] * len(repos)
    for repo in set(repos):
        got = httpx.get(f"{registry_server.url}/v2/{repo}/blobs/{digest}")
        assert got.status_code == 200 and got.content == data
    blob_dir = registry_server.root / "blobs" / "sha256"
    assert (blob_dir / digest[7:]).read_bytes() == data
    assert not [p for p in blob_dir.iterdir() if p.name.startswith(".")]


def test_concurrent_monolithic_pushes(registry_server: RegistryProcess) -> None:
    data = os.urandom(2 * 1024 * 1024)
    digest = sha256_digest(data)

    def push(_: int) -> int:
        return httpx.post(f"{registry_server.url}/v2/race/mono/blobs/uploads/",
                          params={"digest": digest}, content=data, timeout=60).status_code

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(push, range(6))) == [201] * 6
    assert httpx.get(f"{registry_server.url}/v2/race/mono/blobs/{digest}").content == data


def test_abandoned_monolithic_upload_leaves_nothing(start_registry) -> None:
    server = start_registry()
    data = os.urandom(4 * 1024 * 1024)
    digest = sha256_digest(data)
    sock = send_partial_body(server, "POST", f"/v2/gone/app/blobs/uploads/?digest={digest}",
                             len(data), data[:len(data) // 2])
    assert wait_until(lambda: len(upload_files(server.root)) > 0)
    sock.close()
    assert wait_until(lambda: upload_files(server.root) == [])
    r = httpx.head(f"{server.url}/v2/gone/app/blobs/{digest}")
    assert r.status_code == 404
    assert not (server.root / "blobs" / "sha256" / digest[7:]).exists()


def test_abandoned_patch_keeps_the_session_but_shows_no_blob(start_registry) -> None:
    server = start_registry()
    data = os.urandom(2 * 1024 * 1024)
    with httpx.Client(base_url=server.url) as c:
        location = c.post("/v2/gone/patch/blobs/uploads/").headers["Location"]
        sock = send_partial_body(server, "PATCH", location, len(data), data[:1024 * 1024])
        time.sleep(0.3)
        sock.close()
        assert wait_until(lambda: c.get(location).headers.get("Range") != "0-0")
        status = c.get(location)
        assert status.status_code == 204
        received = int(status.headers["Range"].split("-")[1]) + 1
        assert 0 < received <= 1024 * 1024
        assert c.head(f"/v2/gone/patch/blobs/{sha256_digest(data)}").status_code == 404
        rest = c.patch(location, content=data[received:],
                       headers={"Content-Range": f"{received}-{len(data) - 1}"})
        assert rest.status_code == 202  # the upload resumes where it stood
        done = c.put(rest.headers["Location"], params={"digest": sha256_digest(data)})
        assert done.status_code == 201
        assert c.get(f"/v2/gone/patch/blobs/{sha256_digest(data)}").content == data


def test_kill_during_upload_then_restart(start_registry) -> None:
    server = start_registry()
    data = os.urandom(4 * 1024 * 1024)
    digest = sha256_digest(data)
    sock = send_partial_body(server, "POST", f"/v2/crash/app/blobs/uploads/?digest={digest}",
                             len(data), data[:3 * 1024 * 1024])
    assert wait_until(lambda: any(p.name == "data" and p.stat().st_size > 0
                                  for p in upload_files(server.root)))
    server.kill()
    sock.close()
    assert upload_files(server.root)  # the partial upload is on disk, nowhere visible

    again = start_registry(root=server.root)
    assert upload_files(again.root) == []
    assert httpx.head(f"{again.url}/v2/crash/app/blobs/{digest}").status_code == 404
    assert not (again.root / "blobs" / "sha256" / digest[7:]).exists()
    r = httpx.post(f"{again.url}/v2/crash/app/blobs/uploads/", params={"digest": digest},
                   content=data)
    assert r.status_code == 201
    assert httpx.get(f"{again.url}/v2/crash/app/blobs/{digest}").content == data


def test_disk_full_keeps_the_upload_consistent(start_registry, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    root = tmp_path / "small"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(root)], check=True)
    try:
        server = start_registry(root=root)
        data = os.urandom(5 << 20)  # more than the 4 MiB file system holds
        with httpx.Client(base_url=server.url, timeout=30) as c:
            location = c.post("/v2/full/blobs/uploads/").headers["Location"]
            assert c.patch(location, content=data[:1 << 20]).status_code == 202
            r = c.patch(location, content=data[1 << 20:])
            assert r.status_code == 500 and r.json()["errors"][0]["code"] == "UNKNOWN"
            received = int(c.get(location).headers["Range"].split("-")[1]) + 1
            assert (1 << 20) <= received < len(data)
            [partial] = (root / "uploads").glob("*/data")
            assert partial.read_bytes() == data[:received]  # whole pieces only, no torn one
            digest = sha256_digest(data[:received])  # and the running hash agrees
            assert c.put(location, params={"digest": digest}).status_code == 201
            assert c.get(f"/v2/full/blobs/{digest}").content == data[:received]
        server.stop()
    finally:
        subprocess.run(["umount", str(root)], check=True)
