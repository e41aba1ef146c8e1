"""Basic authentication against an htpasswd file of bcrypt entries.

The format is the one `htpasswd -B` writes and the CNCF registry requires: one
`user:$2y$...` line per user. Other hash kinds are ignored with a warning, as bcrypt is
the only one the CNCF registry accepts. The file is re-read when it changes.

Checking a bcrypt hash costs tens of milliseconds on purpose, and a client sends the same
credentials with every request of a push, so credentials that passed once are remembered
(by a sha256 of the header) until the file changes. A user who is not in the file is
checked against a dummy hash of the file's usual cost, so that the time of an answer
does not tell which user names exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
import sys
from collections import Counter
from pathlib import Path

BCRYPT_PREFIXES = ("$2y$", "$2b$", "$2a$")
MISSING = (-1, -1)  # the stamp of a file that cannot be read
DEFAULT_COST = 5  # what `htpasswd -B` uses


def parse_htpasswd(text: str, source: str = "htpasswd") -> dict[str, bytes]:
    """user -> bcrypt hash; lines with other hash kinds are skipped with a warning."""
    users: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not hashed.startswith(BCRYPT_PREFIXES):
            print(f"{source}:{number}: not a bcrypt entry, ignored", file=sys.stderr)
            continue
        users[user] = hashed.encode()
    return users


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def dummy_hash(users: dict[str, bytes]) -> bytes:
    """A bcrypt hash no password matches, of the cost most entries have.

    Only its salt part is used by a check, so a fresh salt and filler make it: checking
    a password against it costs what checking against a real entry of that cost does.
    """
    import bcrypt  # heavy: only a server with --htpasswd loads it

    costs = Counter(h[4:6] for h in users.values() if h[4:6].isdigit() and h[6:7] == b"$")
    cost = int(max(costs, key=lambda c: (costs[c], c))) if costs else DEFAULT_COST
    return bcrypt.gensalt(min(max(cost, 4), 31)) + b"." * 31


class HtpasswdAuth:
    """Checks Basic credentials against an htpasswd file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, bytes] = {}
        self._dummy = b""
        self._accepted: set[bytes] = set()
        self._reload()

    def _reload(self) -> None:
        """Re-read the file if it changed; a file that went away lets nobody in."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size)
            text = self.path.read_text() if stamp != self._stamp else None
        except OSError as err:
            stamp, text = MISSING, None
            if self._stamp != MISSING:
                print(f"{self.path}: {err.strerror}; refusing every login", file=sys.stderr)
                text = ""
        if text is not None:
            self._users = parse_htpasswd(text, str(self.path))
            self._dummy = dummy_hash(self._users)
            self._accepted.clear()
            self._stamp = stamp

    async def check(self, header: str | None) -> bool:
        """True when the header carries a user and password the file accepts."""
        self._reload()
        credentials = parse_basic(header)
        if credentials is None or header is None:
            return False
        key = hashlib.sha256(header.encode()).digest()
        if key in self._accepted:
            return True
        user, password = credentials
        hashed = self._users.get(user, self._dummy)  # unknown: as slow as a wrong password
        import bcrypt  # see dummy_hash

        try:
            ok = await asyncio.get_running_loop().run_in_executor(
                None, bcrypt.checkpw, password.encode(), hashed
            )
        except ValueError:  # longer than bcrypt's 72 bytes, or a malformed hash
            return False
        if ok and hashed is not self._dummy:
            self._accepted.add(key)
        return ok
