"""Access control of `freight registry serve`: htpasswd Basic auth, read-only mode, TLS."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import httpx
import pytest
from imagelib import sha256_digest
from registries import hash_password

from freight.registry.htpasswd import dummy_hash, parse_basic, parse_htpasswd


def error_code(response: httpx.Response) -> str:
    return response.json()["errors"][0]["code"]


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    # "$2y$" is what `htpasswd -B` writes; "$2b$" what the bcrypt library writes.
    alice = hash_password("wonderland").replace("$2b$", "$2y$", 1)
    path.write_text(f"alice:{alice}\nbob:{hash_password('builder')}\ncarol:{{SHA}}abc=\n")
    return path


def test_htpasswd_auth(start_registry, htpasswd: Path) -> None:
    server = start_registry("--htpasswd", str(htpasswd))
    for auth in (None, ("alice", "wrong"), ("nobody", "wonderland"), ("carol", "x")):
        r = httpx.get(f"{server.url}/v2/", auth=auth)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'Basic realm="freight-registry"'
        assert error_code(r) == "UNAUTHORIZED"
    r = httpx.get(f"{server.url}/v2/", headers={"Authorization": "Basic !!notbase64"})
    assert r.status_code == 401
    for auth in (("alice", "wonderland"), ("bob", "builder")):
        assert httpx.get(f"{server.url}/v2/", auth=auth).status_code == 200
        pushed = httpx.post(f"{server.url}/v2/private/blobs/uploads/", auth=auth,
                            params={"digest": sha256_digest(b"x")}, content=b"x")
        assert pushed.status_code == 201
    anonymous = httpx.get(f"{server.url}/v2/private/blobs/{sha256_digest(b'x')}")
    assert anonymous.status_code == 401
    assert "not a bcrypt entry" in server.log.read_text()


def test_unknown_users_take_as_long_as_wrong_passwords(start_registry, tmp_path: Path) -> None:
    """No timing tells which user names exist: an unknown user costs a bcrypt check too.

    The file's cost (8, ~20 ms a check) makes the check most of a request's time, so load
    on the machine moves both kinds alike; the two kinds alternate and medians are compared.
    """
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("".join(f"user{i}:{hash_password('right', rounds=8)}\n" for i in range(3)))
    server = start_registry("--htpasswd", str(htpasswd))
    times: dict[str, list[float]] = {"unknown": [], "known": []}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        def timed(kind: str, user: str) -> None:
            start = time.perf_counter()
            assert client.get("/v2/", auth=(user, "wrong")).status_code == 401
            times[kind].append(time.perf_counter() - start)

        timed("known", "user0")  # warm-up: the connection, the first bcrypt call
        times["known"].clear()
        for i in range(50):
            timed("unknown", f"nobody{i}")
            timed("known", f"user{i % 3}")
    unknown, known = (statistics.median(times[k]) for k in ("unknown", "known"))
    assert max(unknown, known) / min(unknown, known) < 1.2, (unknown, known)


def test_dummy_hash_has_the_usual_cost() -> None:
    users = {"a": b"$2y$08$" + b"x" * 53, "b": b"$2b$08$" + b"y" * 53, "c": b"$2b$05$" + b"z" * 53}
    assert dummy_hash(users).startswith(b"$2b$08$") and len(dummy_hash(users)) == 60
    assert dummy_hash({}).startswith(b"$2b$05$")  # what `htpasswd -B` uses


def test_htpasswd_file_is_reread(start_registry, htpasswd: Path) -> None:
    server = start_registry("--htpasswd", str(htpasswd))
    assert httpx.get(f"{server.url}/v2/", auth=("alice", "wonderland")).status_code == 200
    htpasswd.write_text(f"dave:{hash_password('new')}\n")
    assert httpx.get(f"{server.url}/v2/", auth=("alice", "wonderland")).status_code == 401
    assert httpx.get(f"{server.url}/v2/", auth=("dave", "new")).status_code == 200
    htpasswd.unlink()
    for _ in range(2):
        assert httpx.get(f"{server.url}/v2/", auth=("dave", "new")).status_code == 401
    assert server.log.read_text().count("refusing every login") == 1
    htpasswd.write_text(f"dave:{hash_password('new')}\n")
    assert httpx.get(f"{server.url}/v2/", auth=("dave", "new")).status_code == 200


def test_read_only(start_registry, tmp_path: Path) -> None:
    root = tmp_path / "storage"
    writable = start_registry(root=root)
    data = b"read-only content"
    digest = sha256_digest(data)
    assert httpx.post(f"{writable.url}/v2/ro/blobs/uploads/", params={"digest": digest},
                      content=data).status_code == 201
    writable.stop()

    server = start_registry("--read-only", root=root)
    assert httpx.get(f"{server.url}/v2/ro/blobs/{digest}").content == data
    assert httpx.get(f"{server.url}/v2/ro/tags/list").status_code == 200
    writes = [("POST", "/v2/ro/blobs/uploads/"), ("PUT", "/v2/ro/manifests/latest"),
              ("DELETE", f"/v2/ro/blobs/{digest}"), ("DELETE", "/v2/ro/manifests/latest"),
              ("PATCH", "/v2/ro/blobs/uploads/0b8e2d4c-0000-4000-8000-000000000000")]
    for method, path in writes:
        r = httpx.request(method, server.url + path, content=b"{}")
        assert r.status_code == 405 and error_code(r) == "UNSUPPORTED", (method, path)
        assert "PUT" not in r.headers["Allow"] and "POST" not in r.headers["Allow"]
    assert httpx.get(f"{server.url}/v2/ro/blobs/{digest}").status_code == 200


def test_tls(start_registry) -> None:
    server = start_registry(tls=True)
    assert server.url.startswith("https://")
    r = httpx.get(f"{server.url}/v2/", verify=False)
    assert r.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/v2/")  # self-signed: refused when verified
    data = b"over tls" * 100_000
    r = httpx.post(f"{server.url}/v2/tls/blobs/uploads/", verify=False,
                   params={"digest": sha256_digest(data)}, content=data)
    assert r.status_code == 201
    got = httpx.get(f"{server.url}/v2/tls/blobs/{sha256_digest(data)}", verify=False)
    assert got.content == data


def test_htpasswd_parsing() -> None:
    users = parse_htpasswd("# comment\n\nann:$2y$05$abc\nmd5:$apr1$x$y\nnocolon\n")
    assert users == {"ann": b"$2y$05$abc"}
    assert parse_basic("Basic YTpiOmM=") == ("a", "b:c")
    assert parse_basic("Bearer abc") is None
    assert parse_basic("Basic bm9jb2xvbg==") is None
    assert parse_basic(None) is None
