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
from imagelib import sha256_digest
from registries import RegistryProcess
from testlib import wait_until


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

    again = start_registry("--upload-timeout", "0.5", root=server.root)
    assert httpx.head(f"{again.url}/v2/crash/app/blobs/{digest}").status_code == 404
    assert wait_until(lambda: upload_files(again.root) == [])  # idle past the timeout
    assert not (again.root / "blobs" / "sha256" / digest[7:]).exists()
    r = httpx.post(f"{again.url}/v2/crash/app/blobs/uploads/", params={"digest": digest},
                   content=data)
    assert r.status_code == 201
    assert httpx.get(f"{again.url}/v2/crash/app/blobs/{digest}").content == data


def test_a_second_server_keeps_the_first_ones_uploads(start_registry) -> None:
    first = start_registry()
    data = os.urandom(3 << 20)
    crashed = first.root / "uploads" / "0b8e2d4c-0000-4000-8000-000000000000"
    crashed.mkdir(parents=True)
    (crashed / "data").write_bytes(b"left by a server that crashed an hour ago")
    for path in (crashed / "data", crashed):
        os.utime(path, (time.time() - 7200,) * 2)
    with httpx.Client(base_url=first.url, timeout=30) as c:
        location = c.post("/v2/shared/blobs/uploads/").headers["Location"]
        assert c.patch(location, content=data[:1 << 20]).status_code == 202
        second = start_registry(root=first.root)  # same storage, default upload timeout
        assert wait_until(lambda: not crashed.exists())  # idle past the timeout: removed
        assert len(upload_files(first.root)) == 3  # the live session: folder, repo, data
        r = c.patch(location, content=data[1 << 20:],
                    headers={"Content-Range": f"{1 << 20}-{len(data) - 1}"})
        assert r.status_code == 202, r.text
        assert c.put(location, params={"digest": sha256_digest(data)}).status_code == 201
    assert httpx.get(f"{second.url}/v2/shared/blobs/{sha256_digest(data)}").content == data


def test_another_servers_timeout_ends_an_idle_session_cleanly(start_registry) -> None:
    first = start_registry()
    with httpx.Client(base_url=first.url, timeout=30) as c:
        location = c.post("/v2/shared/blobs/uploads/").headers["Location"]
        assert c.patch(location, content=b"some").status_code == 202
        start_registry("--upload-timeout", "0.5", root=first.root)
        assert wait_until(lambda: upload_files(first.root) == [])
        r = c.patch(location, content=b"more")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
        assert c.get(location).status_code == 404


def test_a_busy_session_stays_fresh_for_other_servers(start_registry) -> None:
    """A body that stalls keeps its session; its server refreshes the folder's time, so a
    server with a shorter upload timeout does not remove it meanwhile."""
    first = start_registry("--upload-timeout", "1")  # refreshes busy folders every 0.5 s
    data = os.urandom(2 << 20)
    with httpx.Client(base_url=first.url, timeout=30) as c:
        location = c.post("/v2/busy/blobs/uploads/").headers["Location"]
        sock = send_partial_body(first, "PATCH", location, len(data), data[:1000])
        start_registry("--upload-timeout", "3", root=first.root)
        time.sleep(6)  # twice the second server's timeout, with no byte written
        assert len(upload_files(first.root)) == 3
        sock.sendall(data[1000:])
        assert sock.recv(65536).startswith(b"HTTP/1.1 202")
        sock.close()
        assert c.put(location, params={"digest": sha256_digest(data)}).status_code == 201
    assert httpx.get(f"{first.url}/v2/busy/blobs/{sha256_digest(data)}").content == data


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
