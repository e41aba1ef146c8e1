"""Exec endpoints: create, start (attached, or detached to a monitor), inspect, resize.

Docker keeps execs as daemon state; here they are rows of the store
(``runtime.exec_records``), so they outlive a restart of the service and go with
their container. An exec belongs to a monitor of its own, as the CLI's, which
records its start and exit; the service is its viewer (``streams.view``), and
resizes its terminal through the monitor's channel.
"""

from __future__ import annotations

import os
import threading
from _socket import socket

from freight.api import forker, streams
from freight.api.http import Call, HttpError
from freight.errors import FreightError
from freight.runtime import exec_records
from freight.runtime.containers import get_running

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

_channels: dict[str, socket] = {}  # running execs this service views: the channel to their monitor
_lock = threading.Lock()


def create(call: Call) -> None:
    c = get_running(call.store, call.args["id"])
    body = call.body_json()
    if not isinstance(body, dict):
        raise HttpError(400, "config cannot be empty in order to create an exec")
    cmd = body.get("Cmd")
    if isinstance(cmd, str):
        cmd = [cmd]
    if not cmd:
        raise HttpError(400, "No exec command specified")
    exec_id = os.urandom(32).hex()
    record = {"ID": exec_id, "ContainerID": c.id, "Running": False, "ExitCode": None, "Pid": 0,
              "OpenStdin": bool(body.get("AttachStdin")), "OpenStdout": bool(body.get("AttachStdout")),
              "OpenStderr": bool(body.get("AttachStderr")), "CanRemove": False, "DetachKeys": "",
              "ProcessConfig": {"tty": bool(body.get("Tty")), "entrypoint": cmd[0], "arguments": cmd[1:],
                                "privileged": bool(body.get("Privileged")), "user": body.get("User") or ""},
              "Env": body.get("Env") or [], "WorkingDir": body.get("WorkingDir") or "",
              "ConsoleSize": body.get("ConsoleSize")}
    exec_records.add(call.store, record)
    call.json({"Id": exec_id}, 201)


def _options(record: dict[str, Any], tty: bool) -> dict[str, Any]:
    process = record["ProcessConfig"]
    return {"cmd": [process["entrypoint"], *process["arguments"]], "env": record["Env"],
            "user": process["user"], "workdir": record["WorkingDir"], "privileged": process["privileged"],
            "tty": tty, "interactive": record["OpenStdin"]}


def start(call: Call) -> None:
    st = call.store
    record = exec_records.get(st, call.args["id"])
    body = call.body_json() or {}
    if record["Running"] or record["ExitCode"] is not None:
        raise HttpError(409, f"Exec {record['ID']} has already run")
    get_running(st, record["ContainerID"])
    tty = bool(body.get("Tty", record["ProcessConfig"]["tty"]))
    options = {**_options(record, tty), "exec_id": record["ID"]}
    if body.get("Detach"):
        del options["tty"], options["interactive"]
        forker.current().exec_detached(record["ContainerID"], **options)
        call.respond(200)
        return
    sock, early = call.hijack(streams.content_type(tty))
    wanted = {s for s, key in (("stdout", "OpenStdout"), ("stderr", "OpenStderr")) if record[key]}
    size = streams.winsize(body.get("ConsoleSize") or record["ConsoleSize"])
    try:
        monitor, _pid = forker.current().exec_viewed(record["ContainerID"], size, **options)
    except FreightError as err:  # the command could not start: the client reads why, and its code
        exec_records.update(st, record["ID"], ExitCode=err.exit_code)
        sock.sendall(streams.frame("stderr", f"{err}\n".encode(), tty))
        return
    with _lock:
        _channels[record["ID"]] = monitor
    try:  # the monitor records the exit (or, killed, nothing: the record reads 137)
        streams.view(monitor, streams.Channel(sock, tty), record["OpenStdin"], wanted, early)
    finally:
        with _lock:
            del _channels[record["ID"]]


def inspect(call: Call) -> None:
    call.json(exec_records.get(call.store, call.args["id"]))


def resize(call: Call) -> None:
    record = exec_records.get(call.store, call.args["id"])
    with _lock:
        monitor = _channels.get(record["ID"])
    size = streams.winsize([call.number("h") or 0, call.number("w") or 0])
    if monitor is None:
        raise HttpError(409, f"Exec {record['ID']} is not running")
    if size is not None and record["ProcessConfig"]["tty"]:
        try:
            monitor.sendall(b"w" + size)
        except OSError:  # it ended meanwhile
            pass
    call.respond(201)


ROUTES = [
    ("POST", "/containers/{id}/exec", create),
    ("POST", "/exec/{id}/start", start),
    ("POST", "/exec/{id}/resize", resize),
    ("GET", "/exec/{id}/json", inspect),
]
