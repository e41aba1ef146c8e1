"""Exec endpoints: create, start (attached, or detached to a monitor), inspect, resize.

Docker keeps execs as daemon state; so does the service, for as long as it runs
(an exec that the CLI runs has no record either). An exec belongs to a monitor of
its own, as the CLI's; the service is its viewer (``streams.view``), and resizes its
terminal through the monitor's channel.
"""

from __future__ import annotations

import os
import threading
from _socket import socket

from freight.api import forker, streams
from freight.api.http import Call, HttpError
from freight.errors import FreightError, NotFound
from freight.runtime.containers import get_running

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

_execs: dict[str, dict[str, Any]] = {}
_channels: dict[str, socket] = {}  # running attached execs: the channel to their monitor
_lock = threading.Lock()


def _get(exec_id: str) -> dict[str, Any]:
    with _lock:
        found = _execs.get(exec_id)
    if found is None:
        raise NotFound(f"No such exec instance: {exec_id}")
    return found


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
    with _lock:
        _execs[exec_id] = record
    call.json({"Id": exec_id}, 201)


def _options(record: dict[str, Any], tty: bool) -> dict[str, Any]:
    process = record["ProcessConfig"]
    return {"cmd": [process["entrypoint"], *process["arguments"]], "env": record["Env"],
            "user": process["user"], "workdir": record["WorkingDir"], "privileged": process["privileged"],
            "tty": tty, "interactive": record["OpenStdin"]}


def start(call: Call) -> None:
    record = _get(call.args["id"])
    body = call.body_json() or {}
    if record["Running"] or record["ExitCode"] is not None:
        raise HttpError(409, f"Exec {record['ID']} has already run")
    st = call.store
    get_running(st, record["ContainerID"])
    tty = bool(body.get("Tty", record["ProcessConfig"]["tty"]))
    record["ConsoleSize"] = body.get("ConsoleSize") or record["ConsoleSize"]
    options = _options(record, tty)
    if body.get("Detach"):
        del options["tty"], options["interactive"]
        forker.current().exec_detached(record["ContainerID"], **options)
        record["Running"] = True
        call.respond(200)
        return
    sock, early = call.hijack(streams.content_type(tty))
    wanted = {s for s, key in (("stdout", "OpenStdout"), ("stderr", "OpenStderr")) if record[key]}
    try:
        monitor, pid = forker.current().exec_viewed(record["ContainerID"], streams.winsize(record["ConsoleSize"]),
                                                    **options)
    except FreightError as err:  # the command could not start: the client reads why, and its code
        record["ExitCode"] = err.exit_code
        sock.sendall(streams.frame("stderr", f"{err}\n".encode(), tty))
        return
    record.update(Running=True, Pid=pid)
    with _lock:
        _channels[record["ID"]] = monitor
    try:
        code = streams.view(monitor, streams.Channel(sock, tty), record["OpenStdin"], wanted, early)
        record["ExitCode"] = 137 if code is None else code  # None: a monitor killed took its command
    finally:
        with _lock:
            del _channels[record["ID"]]
        record["Running"] = False


def inspect(call: Call) -> None:
    call.json(_get(call.args["id"]))


def resize(call: Call) -> None:
    record = _get(call.args["id"])
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
