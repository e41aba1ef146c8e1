"""Name resolution on user-defined networks: aardvark-dns (Podman's DNS server), run directly.

One aardvark-dns process serves every network of a store: it reads one file per
network in ``<root>/network/aardvark/`` (first line: the gateway it listens on; then
one line per container: ID, IPv4, IPv6, names) and rereads them on SIGHUP. The files
are rewritten from the store's leases (``ipam``) under a lock, so a name disappears as
soon as its container stops; the process is stopped once no network has a container.
Names it does not know are forwarded, as Docker's embedded DNS forwards them, to the
container's ``--dns`` servers (the fifth field of its line: aardvark-dns picks them by
the query's source address), or else to the host's resolvers.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import sqlite3

from freight.runtime import ipam
from freight.runtime.nettools import run_tool

BINARY = "aardvark-dns"


def directory(root: str) -> str:
    return f"{root}/network/aardvark"


def pid_of(root: str) -> int | None:
    """The running aardvark-dns of this store, if any."""
    try:
        with open(f"{directory(root)}/aardvark.pid") as f:
            pid = int(f.read().strip() or 0)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return pid if BINARY.encode() in f.read() else None
    except (OSError, ValueError):
        return None


def sync(root: str, db: sqlite3.Connection, netns: int | None = None) -> None:
    """Make the files and the process match the leases (start, reload or stop it); ``netns``:
    the host's namespace, where the server must listen, when the caller is elsewhere."""
    folder = directory(root)
    os.makedirs(folder, 0o700, exist_ok=True)
    lock = os.open(f"{folder}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)  # aardvark reads every file
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wanted = _files(db)
        for name in os.listdir(folder):
            if name != "aardvark.pid" and name not in wanted:
                os.unlink(f"{folder}/{name}")
        for name, text in wanted.items():
            with open(f"{folder}.tmp", "w") as f:
                f.write(text)
            os.rename(f"{folder}.tmp", f"{folder}/{name}")
        pid = pid_of(root)
        if not wanted:
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
        elif pid is None:
            run_tool([BINARY, "--config", folder, "-p", "53", "run"], quiet=True, netns=netns)
        else:
            os.kill(pid, signal.SIGHUP)
    finally:
        os.close(lock)


def _files(db: sqlite3.Connection) -> dict[str, str]:
    """network ID -> file text, for the networks with DNS and at least one container."""
    files = {}
    for network in ipam.networks(db):
        members = ipam.endpoints(db, network.id)
        if network.dns and members:
            listen = ",".join(filter(None, (network.gateway, network.gateway6)))
            lines = [listen] + [f"{e.container_id} {e.address} {e.address6} {','.join(e.names)} "
                                         f"{','.join(_servers(db, e.container_id))}".rstrip() for e in members]
            files[network.id[:12]] = "\n".join(lines) + "\n"
    return files


def _servers(db: sqlite3.Connection, container_id: str) -> list[str]:
    """The container's ``--dns`` servers (HostConfig.Dns) that are IP addresses: aardvark-dns
    refuses a whole file with one that is not."""
    row = db.execute("SELECT json_extract(config, '$.HostConfig.Dns') FROM containers WHERE id = ?",
                     (container_id,)).fetchone()
    try:
        listed = json.loads(row[0]) if row and row[0] else []
    except ValueError:
        return []
    return [str(s) for s in listed if isinstance(s, str) and _is_address(s)]


def _is_address(text: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
            return True
        except OSError:
            pass
    return False


def stop(root: str) -> None:
    pid = pid_of(root)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
