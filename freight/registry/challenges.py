"""Answering a registry's authentication challenges.

Authentication follows the distribution spec: a request that gets 401 reads
the ``WWW-Authenticate`` challenge. ``Basic`` is answered with the stored
credentials (``freight.registry.auth``); ``Bearer realm=...,service=...,scope=...``
by fetching a token from the realm (``GET realm?service=S&scope=repository:NAME:pull,push``,
with Basic credentials when there are some) and sending it as ``Authorization: Bearer``.
Tokens are cached per scope until they expire (or a 401 says they did).
"""

from __future__ import annotations

import re
import threading
import time

from freight.errors import FreightError
from freight.record import Record
from freight.registry.auth import Credentials
from freight.registry.connections import Connections

_PARAM = r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?'  # compiled on first use


class Challenge(Record):
    """One ``WWW-Authenticate`` challenge."""

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


class Authenticator:
    """Builds ``Authorization`` headers for one registry, caching bearer tokens per scope."""

    def __init__(self, host: str, credentials: Credentials | None) -> None:
        self.host = host
        self.credentials = credentials
        self.challenge: Challenge | None = None
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def header(self, http: Connections, scope: str) -> str | None:
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

    def _fetch_token(self, http: Connections, challenge: Challenge, scope: str) -> tuple[str, float]:
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
        return str(token), started + lifetime - 10
