"""Registry credentials, shared with the docker CLI.

Credentials live where ``docker login`` keeps them: ``$DOCKER_CONFIG/config.json``
(default ``~/.docker/config.json``). A registry's entry is found, in Docker's
order, through ``credHelpers[host]``, then ``credsStore``, then ``auths[host]``
(``{"auth": base64("user:password")}``). A helper is the program
``docker-credential-NAME`` speaking Docker's protocol: ``get`` and ``erase``
read the server URL on stdin; ``get`` prints ``{"ServerURL", "Username",
"Secret"}``; ``store`` reads that JSON on stdin. Docker Hub's key is
``https://index.docker.io/v1/``. How they answer a registry's challenge is
``freight.registry.challenges``'s.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from freight.errors import FreightError
from freight.record import Record

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_HOSTS = {"docker.io", "index.docker.io", "registry-1.docker.io"}


class Credentials(Record):
    """A user name and password (or token) for one registry."""

    username: str
    password: str

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


# -- the docker config file ------------------------------------------------


def config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def config_path() -> Path:
    return config_dir() / "config.json"


def _load() -> dict[str, Any]:
    path = config_path()
    try:
        config: dict[str, Any] = json.loads(path.read_text() or "{}")
        return config
    except FileNotFoundError:
        return {}
    except ValueError as err:
        raise FreightError(f"loading config file {path}: {err}") from None


def _save(config: dict[str, Any]) -> None:
    """Write the config atomically, readable only by its owner, as docker does."""
    import tempfile  # only login and logout write: pulls and pushes do without it

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


def host_of(key: str) -> str:
    """``https://host:5000/v2/`` or ``host:5000`` → ``host:5000``."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return "docker.io" if host in _HUB_HOSTS else host


def _helper_for(config: dict[str, Any], host: str) -> str | None:
    helpers: dict[str, str] = config.get("credHelpers") or {}
    for key, name in helpers.items():
        if host_of(key) == host_of(host):
            return name
    store: str | None = config.get("credsStore") or None
    return store


def _run_helper(name: str, action: str, data: str) -> str:
    import subprocess  # only with a credential helper configured

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
        if host_of(name) == host_of(key) and entry.get("auth"):
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            return Credentials(user, password)
    return None


def store_credentials(host: str, creds: Credentials) -> bool:
    """Keep a registry's credentials: True when a credential helper holds them, False when
    they are in config.json itself (base64, unencrypted)."""
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
    return bool(helper)


def erase_credentials(host: str) -> bool:
    """Forget a registry's credentials; False when there were none."""
    config = _load()
    key = server_key(host)
    auths = config.get("auths") or {}
    names = [name for name in auths if host_of(name) == host_of(key)]
    helper = _helper_for(config, host)
    if helper:
        _run_helper(helper, "erase", key)
    elif not names:
        return False
    for name in names:
        del auths[name]
    _save(config)
    return True
