"""Registry authentication: challenges, docker config credentials and helpers, token (Bearer) auth.

The Bearer tests run the CNCF registry with ``auth: token`` against a token server of
our own (``TokenServer``) that signs RS256 JWTs with a key and self-signed certificate
made by ``openssl``; the registry trusts that certificate as its root bundle.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import time
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from imagelib import make_image
from registries import write_htpasswd
from testlib import QuietHandler, run_freight, serve_http, stop_http

from freight.registry.auth import Credentials, erase_credentials, get_credentials, store_credentials
from freight.registry.challenges import parse_challenge
from freight.registry.client import Registry
from freight.registry.pull import pull
from freight.registry.push import push
from freight.store import Store, open_store

USER, PASSWORD = "alice", "s3cret"


# -- challenges ------------------------------------------------------------------------------


def test_parse_bearer_challenge_with_quoted_commas() -> None:
    header = ('Bearer realm="https://auth.example.com/token",service="registry.example.com",'
              'scope="repository:samalba/my-app:pull,push",error="insufficient_scope"')
    challenge = parse_challenge(header)
    assert challenge.scheme == "bearer"
    assert challenge.params == {"realm": "https://auth.example.com/token", "service": "registry.example.com",
                                "scope": "repository:samalba/my-app:pull,push", "error": "insufficient_scope"}


def test_parse_basic_challenge_and_escapes() -> None:
    assert parse_challenge('Basic realm="Registry Realm"') .params == {"realm": "Registry Realm"}
    assert parse_challenge('BASIC realm=plain, charset="UTF-8"').params == {"realm": "plain",
                                                                          "charset": "UTF-8"}
    assert parse_challenge(r'Bearer realm="a\"b",service=x').params == {"realm": 'a"b', "service": "x"}


# -- credentials -----------------------------------------------------------------------------


def test_credentials_in_config_json(docker_config: Path) -> None:
    assert get_credentials("localhost:5000") is None
    store_credentials("localhost:5000", Credentials("bob", "pa:ss"))
    store_credentials("docker.io", Credentials("hubuser", "tok"))
    config = json.loads((docker_config / "config.json").read_text())
    assert config["auths"]["localhost:5000"] == {"auth": base64.b64encode(b"bob:pa:ss").decode()}
    assert "https://index.docker.io/v1/" in config["auths"]
    assert get_credentials("localhost:5000") == Credentials("bob", "pa:ss")
    assert get_credentials("docker.io") == Credentials("hubuser", "tok")
    # docker writes keys with a scheme too
    config["auths"]["https://other.example:443"] = {"auth": base64.b64encode(b"u:p").decode()}
    (docker_config / "config.json").write_text(json.dumps(config))
    assert get_credentials("other.example:443") == Credentials("u", "p")
    assert erase_credentials("localhost:5000") is True
    assert erase_credentials("localhost:5000") is False
    assert get_credentials("localhost:5000") is None


HELPER = """#!/bin/sh
# docker-credential-test: keeps credentials as files in $CRED_DIR, keyed by server URL
key=$(printf %s "$(cat /dev/stdin)" | tee "$CRED_DIR/last-input" | head -c 4096)
case "$1" in
  store) url=$(printf %s "$key" | sed 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/')
         printf %s "$key" > "$CRED_DIR/$(printf %s "$url" | md5sum | cut -c1-32)" ;;
  get)   f="$CRED_DIR/$(printf %s "$key" | md5sum | cut -c1-32)"
         if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) rm -f "$CRED_DIR/$(printf %s "$key" | md5sum | cut -c1-32)" ;;
esac
"""


@pytest.fixture
def cred_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-test"
    helper.write_text(HELPER)
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    store_dir = tmp_path / "creds"
    store_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("CRED_DIR", str(store_dir))
    return store_dir


@pytest.mark.parametrize("setting", ["credsStore", "credHelpers"])
def test_credential_helpers(setting: str, cred_helper: Path, docker_config: Path) -> None:
    host = "registry.example:5000"
    config = {"credsStore": "test"} if setting == "credsStore" else {"credHelpers": {host: "test"}}
    (docker_config / "config.json").write_text(json.dumps(config))
    assert get_credentials(host) is None
    store_credentials(host, Credentials("carol", "pw"))
    stored = json.loads((docker_config / "config.json").read_text())
    assert stored["auths"][host] == {}  # docker keeps an empty entry; the secret is in the helper
    assert json.loads((cred_helper / "last-input").read_text()) == {
        "ServerURL": host, "Username": "carol", "Secret": "pw"}
    assert get_credentials(host) == Credentials("carol", "pw")
    assert erase_credentials(host)
    assert (cred_helper / "last-input").read_text() == host
    assert get_credentials(host) is None


def test_login_through_helper_then_push(cred_helper: Path, docker_config: Path, registry, store: Store,
                                        tmp_path: Path) -> None:
    host = registry("freight", htpasswd=write_htpasswd(tmp_path / "htpasswd", USER, PASSWORD))
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "test"}))
    result = run_freight(store.root, "login", "-u", USER, "--password-stdin", host, input=PASSWORD)
    assert result.stdout.strip() == "Login Succeeded", result.stderr
    assert "unencrypted" not in result.stderr  # a helper holds them: no warning
    assert "auth" not in json.loads((docker_config / "config.json").read_text())["auths"][host]
    make_image(store, [{"f": b"x"}], [f"{host}/helped:v1"])
    assert run_freight(store.root, "push", f"{host}/helped:v1").returncode == 0


def test_login_usage_errors(store: Store) -> None:
    result = run_freight(store.root, "login", "--password-stdin", "localhost:5000", input="x")
    assert result.returncode == 1
    assert "Must provide --username with --password-stdin" in result.stderr
    out = run_freight(store.root, "logout", "localhost:5999")
    assert out.returncode == 0 and out.stdout.strip() == "Not logged in to localhost:5999"


# -- token auth ------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues RS256 JWTs the CNCF registry accepts; pull for anyone, push for alice."""

    def __init__(self, directory: Path) -> None:
        openssl = shutil.which("openssl") or pytest.skip("needs openssl")
        self.key = directory / "token.key"
        self.cert = directory / "token.crt"
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
                        "-out", self.cert, "-days", "1", "-subj", "/CN=freight-test-token"],
                       check=True, capture_output=True)
        der = subprocess.run([openssl, "x509", "-in", self.cert, "-outform", "der"], check=True,
                             capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.openssl = openssl
        self.requests: list[dict] = []
        self.lifetime = 300  # seconds a token is valid for beyond the registry's 60 s leeway
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.handle(self)

        self.httpd = serve_http(Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"

    def settings(self) -> dict[str, str]:
        return {"realm": self.realm, "service": "test-registry", "issuer": "test-issuer",
                "rootcertbundle": str(self.cert)}

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlparse(request.path).query)
        auth = request.headers.get("Authorization", "")
        user = None
        if auth.startswith("Basic "):
            name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if (name, password) != (USER, PASSWORD):
                request.send_response(401)
                request.end_headers()
                return
            user = name
        self.requests.append({"scope": query.get("scope", []), "service": query.get("service"), "user": user})
        access = []
        for scope in query.get("scope", []):
            kind, name, actions = scope.split(":")
            granted = [a for a in actions.split(",") if a == "pull" or user == USER]
            access.append({"type": kind, "name": name, "actions": granted})
        token = self.sign({"iss": "test-issuer", "sub": user or "", "aud": query.get("service", [""])[0],
                           "exp": int(time.time()) - 60 + self.lifetime, "nbf": int(time.time()) - 120,
                           "iat": int(time.time()), "jti": uuid.uuid4().hex, "access": access})
        body = json.dumps({"token": token, "expires_in": self.lifetime}).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run([self.openssl, "dgst", "-sha256", "-sign", str(self.key)],
                                   input=signing_input.encode(), capture_output=True, check=True).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def close(self) -> None:
        stop_http(self.httpd)


@pytest.fixture
def token_server(tmp_path: Path):
    server = TokenServer(tmp_path)
    yield server
    server.close()


def test_bearer_token_flow_with_cncf_registry(token_server: TokenServer, registry, store: Store,
                                              tmp_path: Path, docker_config: Path) -> None:
    host = registry("cncf", token=token_server.settings())
    ref = f"{host}/team/app:v1"
    image = make_image(store, [{"etc/hello": b"hi\n"}], [ref])
    denied = run_freight(store.root, "push", ref)  # anonymous tokens carry pull only
    assert denied.returncode == 1 and "unauthorized" in denied.stderr.lower(), denied.stderr
    assert token_server.requests[-1]["scope"] == ["repository:team/app:pull,push"]
    assert token_server.requests[-1]["user"] is None
    wrong = run_freight(store.root, "login", "-u", USER, "--password-stdin", host, input="bad")
    assert wrong.returncode == 1 and "unauthorized: incorrect username or password" in wrong.stderr
    ok = run_freight(store.root, "login", "-u", USER, "--password-stdin", host, input=PASSWORD)
    assert ok.returncode == 0, ok.stderr
    token_server.requests.clear()
    pushed = run_freight(store.root, "push", ref)
    assert pushed.returncode == 0, pushed.stderr
    assert token_server.requests == [{"scope": ["repository:team/app:pull,push"],
                                      "service": ["test-registry"], "user": USER}]  # one token, reused
    token_server.requests.clear()
    other = open_store(tmp_path / "other")
    got = pull(other, ref)
    assert got.id == image.id
    assert token_server.requests[0]["scope"] == ["repository:team/app:pull"]

    # Mounting into another repository asks for both scopes in one token.
    token_server.requests.clear()
    assert run_freight(other.root, "push", ref, f"{host}/team/copy:v1").returncode == 0
    assert token_server.requests[0]["scope"] in (["repository:team/copy:pull,push"],
                                                 ["repository:team/copy:pull,push", "repository:team/app:pull"])
    assert ["repository:team/copy:pull,push", "repository:team/app:pull"] in \
        [r["scope"] for r in token_server.requests]


def test_expired_token_is_refreshed_once(token_server: TokenServer, registry, store: Store) -> None:
    host = registry("cncf", token=token_server.settings())
    ref = f"{host}/app:v1"
    token_server.lifetime = 300
    make_image(store, [{"a": b"a"}], [ref])
    store_credentials(host, Credentials(USER, PASSWORD))
    push(store, ref)
    token_server.lifetime = 2  # the registry honours these for 2 s (past its 60 s leeway)
    token_server.requests.clear()
    with Registry(host, Credentials(USER, PASSWORD)) as reg:
        reg.ping()
        reg.get_manifest("app", "v1")
        time.sleep(3)
        data, _, digest = reg.get_manifest("app", "v1")  # 401 with the cached token: fetch a new one
    assert len(token_server.requests) == 2
    assert digest.startswith("sha256:") and data
