"""``docker create``: a container's record and files, from Docker's create request.

The request is the body of Docker's ``POST /containers/create`` (``hostconfig``
merges it with the image's config); ``prepare`` makes the container's
directory with its overlay directories, hosts files and volumes, and ``insert``
records it with its volumes (``create`` at once, ``run`` once it started:
``supervise``).
"""

from __future__ import annotations

import json
import os
import sqlite3

from freight.errors import Conflict, FreightError
from freight.runtime import containerdir
from freight.runtime import hostconfig as cfg
from freight.runtime.events import container_event
from freight.runtime.hostfiles import resolver_of, write_host_files
from freight.runtime.mounts import anonymous_volumes, resolve_mounts
from freight.runtime.names import check_name, random_name
from freight.runtime.netsandbox import initial_networks
from freight.runtime.records import OWNER, Container, new_state, release_dir
from freight.runtime.removal import dispose
from freight.runtime.runtimes import check_host_config
from freight.runtime.runtimes import check_name as check_runtime
from freight.runtime.times import timestamp
from freight.runtime.volumes import ANONYMOUS_LABEL, ensure_volume
from freight.store.db import transaction
from freight.store.refs import IMAGE, SNAPSHOT

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.store import Store


def create(store: Store, body: dict[str, Any], name: str | None = None) -> Container:
    """Docker's ``POST /containers/create``: record the container and prepare its files."""
    c = prepare(store, body, name)
    insert(store, c)
    return c


def prepare(store: Store, body: dict[str, Any], name: str | None = None) -> Container:
    """Everything ``create`` does except the database insert (``run`` inserts once started)."""
    image = store.resolve_image(body.get("Image") or "")
    host = dict(body.get("HostConfig") or {})
    config = cfg.merge_image_config(body, image.config)
    networking = config.pop("NetworkingConfig", None)  # the API's, beside the config
    cfg.validate_host_config(host)
    host["Runtime"] = check_runtime(host.get("Runtime"))
    check_host_config(host["Runtime"], host)
    _check_cidfile(host.get("ContainerIDFile") or "")
    name = _unique_name(store, name)
    cid = os.urandom(32).hex()
    host_network = host.get("NetworkMode") == "host"
    if not config.get("Hostname"):
        config["Hostname"] = os.uname().nodename if host_network else cid[:12]
    config["Image"] = body.get("Image") or image.id
    mounts = resolve_mounts(store.root_path, config, host)
    host.setdefault("NetworkMode", "default")
    host.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
    directory = f"{store.root_path}/containers/{cid}"
    record = {
        "Id": cid, "Created": timestamp(), "Path": cfg.command_of(config)[0],
        "Args": cfg.command_of(config)[1:], "Image": image.id, "Name": "/" + name,
        "ResolvConfPath": f"{directory}/resolv.conf", "HostnamePath": f"{directory}/hostname",
        "HostsPath": f"{directory}/hosts",
        "LogPath": "" if (host.get("LogConfig") or {}).get("Type") == "none" else f"{directory}/{cid}-json.log",
        "RestartCount": 0, "Driver": "overlay", "Platform": "linux", "MountLabel": "",
        "ProcessLabel": "", "AppArmorProfile": "",
        "HostConfig": host, "Mounts": mounts, "Config": config,
        "NetworkSettings": {"Ports": _ports(config, host),
                            "Networks": initial_networks(store, host, networking)},
    }
    c = Container(record, new_state(), image)
    c.dir_lock = containerdir.create(store.root_path, cid, anonymous_volumes(mounts))
    try:
        _make_files(c, directory, host_network)
    except BaseException:
        dispose(store, c, None, remove_row=False)
        raise
    return c


def insert(store: Store, c: Container) -> None:
    """Record ``c`` with the volumes it mounts and what it holds in the store (its image and the
    image's snapshots: ``freight.store.refs``) in one transaction, then let go of its directory."""
    try:
        with transaction(store.db) as db:
            for m in c.record["Mounts"]:
                if m["Type"] == "volume":
                    ensure_volume(db, store.root_path, m["Name"], c.record["Created"],
                                  labels={ANONYMOUS_LABEL: ""} if m.get("Anonymous") else None)
            db.execute("INSERT INTO containers (id, name, image_id, created, config, state) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (c.id, c.name, c.image_id, c.record["Created"], json.dumps(c.record),
                        json.dumps(c.state)))
            chains = c.image.chain_ids if c.image is not None else []
            store.refs.replace(OWNER, c.id, [(IMAGE, c.image_id)] + [(SNAPSHOT, chain) for chain in chains])
    except sqlite3.IntegrityError:
        raise Conflict(f'Conflict. The container name "/{c.name}" is already in use.') from None
    release_dir(c)
    if c.host_config.get("ContainerIDFile"):
        _write_cidfile(c.host_config["ContainerIDFile"], c.id)
    container_event(store, c, "create")


def _check_cidfile(path: str) -> None:
    """``--cidfile`` names a file that must not exist yet (Docker's check, before anything starts)."""
    if path and os.path.lexists(path):  # the docker CLI's own check: not a Conflict the engine reports
        raise FreightError(f"container ID file found, make sure the other container isn't running or delete {path}")


def _write_cidfile(path: str, cid: str) -> None:
    """``--cidfile``: the ID, written once the container is recorded (a file made meanwhile is left be)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(cid)


def _make_files(c: Container, directory: str, host_network: bool) -> None:
    """The overlay's directories (the upper dir is the container's ``/``: 0755, below the
    private container directory), the host files and the volumes' directories."""
    for sub in ("upper", "work", "merged"):
        os.mkdir(f"{directory}/{sub}", 0o700 if sub == "work" else 0o755)
    host = c.host_config
    write_host_files(directory, c.config["Hostname"], host_network, list(host.get("ExtraHosts") or []),
                     resolver_of(host))
    for m in c.record["Mounts"]:
        if m["Type"] == "volume":
            os.makedirs(m["Source"], 0o755, exist_ok=True)


def _unique_name(store: Store, name: str | None) -> str:
    if name:
        name = check_name(name)
        row = store.db.execute("SELECT id FROM containers WHERE name = ?", (name,)).fetchone()
        if row:
            raise Conflict(f'Conflict. The container name "/{name}" is already in use by container '
                           f'"{row[0]}". You have to remove (or rename) that container to be able to reuse that name.')
        return name
    while True:
        name = random_name()
        if not store.db.execute("SELECT 1 FROM containers WHERE name = ?", (name,)).fetchone():
            return name


def _ports(config: dict[str, Any], host: dict[str, Any]) -> dict[str, Any]:
    """NetworkSettings.Ports before the start: exposed ports, and the bindings asked for."""
    if not host.get("PortBindings") and not config.get("ExposedPorts"):
        return {}
    result: dict[str, Any] = {key: None for key in config.get("ExposedPorts") or {}}
    for key, bindings in (host.get("PortBindings") or {}).items():
        result[key] = [{"HostIp": b.get("HostIp") or "0.0.0.0", "HostPort": str(b.get("HostPort") or "")}
                       for b in bindings]
    return result
