"""Registry credentials and authentication, shared with the docker CLI.

Credentials live where ``docker login`` keeps them: ``$DOCKER_CONFIG/config.json``
(default ``~/.docker/config.json``). A registry's entry is found, in Docker's
order, through ``credHelpers[host]``, then ``credsStore``, then ``auths[host]``
(``{"auth": base64("user:password")}``). A helper is the program
``docker-credential-NAME`` speaking Docker's protocol: ``get`` and ``erase``
read the server URL on stdin; ``get`` prints ``{"ServerURL", "Username",
"Secret"}``; ``store`` reads that JSON on stdin. Docker Hub's key is
``https://index.docker.io/v1/``.

Authentication follows the distribution spec: a request that gets 401 reads
the ``WWW-Authenticate`` challenge. ``Basic`` is answered with the stored
credentials; ``Bearer realm=...,service=...,scope=...`` by fetching a token from
the realm (``GET realm?service=S&scope=repository:NAME:pull,push``, with Basic
credentials when there are some) and sending it as ``Authorization: Bearer``.
Tokens are cached per scope until they expire (or a 401 says they did).
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections import namedtuple
from pathlib import Path

from freight.errors import FreightError

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_HOSTS = {"docker.io", "index.docker.io", "registry-1.docker.io"}
_PARAM = r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?'  # compiled on first use


class Credentials(namedtuple("Credentials", "username password")):
    """A user name and password (or token) for one registry.

    (``collections.namedtuple`` here and for ``Challenge``: ``typing.NamedTuple`` would cost
    start-up time.)
    """

    __slots__ = ()
    username: str
    password: str

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


class Challenge(namedtuple("Challenge", "scheme params")):
    __slots__ = ()
    scheme: str  # lower case: "basic" or "bearer"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge:
    """Parse one ``WWW-Authenticate`` value: ``Bearer realm="...",service="...",scope="..."``.

    Quoted values may contain commas and backslash escapes.
    """
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        match = re.compile(_PARAM).match(rest, pos)
        if match is None or match.end() == pos:
            break
        value = match.group(2)
        value = re.sub(r"\\(.)", r"\1", value) if value is not None else match.group(3)
        params[match.group(1).lower()] = value
        pos = match.end()
    return Challenge(scheme.lower(), params)


# -- the docker config file ------------------------------------------------


def config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def config_path() -> Path:
    return config_dir() / "config.json"


def _load() -> dict[str, Any]:
    path = config_path()
    try:
        return json.loads(path.read_text() or "{}")
    except FileNotFoundError:
        return {}
    except ValueError as err:
        raise FreightError(f"loading config file {path}: {err}") from None


def _save(config: dict[str, Any]) -> None:
    """Write the config atomically, readable only by its owner, as docker does."""
    import tempfile  # lazily, as subprocess below: pulls and pushes rarely need them

    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="config.json")
    with os.fdopen(fd, "w") as f:
        json.dump(config, f, indent="\t")
        f.write("\n")
    os.replace(tmp, path)


def server_key(host: str) -> str:
    """The key ``docker login HOST`` stores credentials under."""
    return DOCKER_HUB_KEY if host in _HUB_HOSTS else host


def _host_of(key: str) -> str:
    """``https://host:5000/v2/`` or ``host:5000`` → ``host:5000``."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return "docker.io" if host in _HUB_HOSTS else host


def _helper_for(config: dict[str, Any], host: str) -> str | None:
    helpers = config.get("credHelpers") or {}
    for key, name in helpers.items():
        if _host_of(key) == _host_of(host):
            return name
    return config.get("credsStore") or None


def _run_helper(name: str, action: str, data: str) -> str:
    import subprocess

    program = f"docker-credential-{name}"
    try:
        done = subprocess.run([program, action], input=data, capture_output=True, text=True,
                              timeout=60)
    except FileNotFoundError:
        raise FreightError(f"error getting credentials - err: exec: \"{program}\": "
                           "executable file not found in $PATH") from None
    if done.returncode != 0:
        message = (done.stdout.strip() or done.stderr.strip())
        if action != "store" and "credentials not found" in message.lower():
            return ""
        raise FreightError(f"error {action}ing credentials with {program}: {message}")
    return done.stdout


def get_credentials(host: str) -> Credentials | None:
    """The stored credentials for a registry host, or None."""
    config = _load()
    key = server_key(host)
    helper = _helper_for(config, host)
    if helper:
        out = _run_helper(helper, "get", key)
        if not out.strip():
            return None
        entry = json.loads(out)
        return Credentials(entry.get("Username", ""), entry.get("Secret", ""))
    for name, entry in (config.get("auths") or {}).items():
        if _host_of(name) == _host_of(key) and entry.get("auth"):
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            return Credentials(user, password)
    return None


def store_credentials(host: str, creds: Credentials) -> None:
    config = _load()
    key = server_key(host)
    helper = _helper_for(config, host)
    if helper:
        _run_helper(helper, "store", json.dumps(
            {"ServerURL": key, "Username": creds.username, "Secret": creds.password},
            separators=(",", ":")))
        config.setdefault("auths", {})[key] = {}
    else:
        config.setdefault("auths", {})[key] = {"auth": creds.basic().removeprefix("Basic ")}
    _save(config)


def erase_credentials(host: str) -> bool:
    """Forget a registry's credentials; False when there were none."""
    config = _load()
    key = server_key(host)
    auths = config.get("auths") or {}
    names = [name for name in auths if _host_of(name) == _host_of(key)]
    helper = _helper_for(config, host)
    if helper:
        _run_helper(helper, "erase", key)
    elif not names:
        return False
    for name in names:
        del auths[name]
    _save(config)
    return True


# -- answering challenges ----------------------------------------------------


class Authenticator:
    """Builds ``Authorization`` headers for one registry, caching bearer tokens per scope."""

    def __init__(self, host: str, credentials: Credentials | None) -> None:
        self.host = host
        self.credentials = credentials
        self.challenge: Challenge | None = None
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def header(self, http: Any, scope: str) -> str | None:
        """The Authorization value for a request needing ``scope`` (None: go anonymous)."""
        challenge = self.challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self.credentials.basic() if self.credentials else None
        if challenge.scheme != "bearer":
            raise FreightError(f"unsupported authentication scheme {challenge.scheme!r}")
        with self._lock:
            token, expires = self._tokens.get(scope, ("", 0.0))
            if not token or time.monotonic() >= expires:
                token, expires = self._fetch_token(http, challenge, scope)
                self._tokens[scope] = (token, expires)
        return f"Bearer {token}"

    def rejected(self, challenge_header: str | None, scope: str) -> None:
        """Note a 401: remember the challenge and drop the token the server refused."""
        if challenge_header:
            self.challenge = parse_challenge(challenge_header)
        with self._lock:
            self._tokens.pop(scope, None)

    def _fetch_token(self, http: Any, challenge: Challenge, scope: str) -> tuple[str, float]:
        realm = challenge.params.get("realm")
        if not realm:
            raise FreightError(f"{self.host}: bearer challenge without a realm")
        query = [("service", challenge.params["service"])] if challenge.params.get("service") else []
        query += [("scope", part) for part in scope.split()]
        headers = {"Authorization": self.credentials.basic()} if self.credentials else {}
        started = time.monotonic()
        response = http.get(realm, params=query, headers=headers)
        if response.status_code in (401, 403):
            raise FreightError("unauthorized: authentication required" if not self.credentials
                               else "unauthorized: incorrect username or password")
        if response.status_code != 200:
            raise FreightError(f"{self.host}: token server {realm} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise FreightError(f"{self.host}: token server {realm} sent no JSON") from None
        token = body.get("token") or body.get("access_token")
        if not token:
            raise FreightError(f"{self.host}: token server {realm} sent no token")
        lifetime = max(int(body.get("expires_in") or 60), 60)
        return token, started + lifetime - 10
