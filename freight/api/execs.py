"""Exec endpoints: create, start (attached, or detached to a monitor), inspect, resize.

Docker keeps execs as daemon state; so does the service, for as long as it runs
(an exec that the CLI runs has no record either). An attached exec's monitor
stays the service's child and ends with its client.
"""

from __future__ import annotations

import os
import threading

from freight.api import streams
from freight.api.http import Call, HttpError
from freight.errors import FreightError, NotFound
from freight.runtime.containers import get_running
from freight.runtime.execute import exec_detached
from freight.runtime.spawn import spawn_attached

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

_execs: dict[str, dict[str, Any]] = {}
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
            "tty": tty, "interactive": record["OpenStdin"], "console_size": record["ConsoleSize"]}


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
        del options["tty"], options["interactive"], options["console_size"]
        exec_detached(st, record["ContainerID"], **options)
        record["Running"] = True
        call.respond(200)
        return
    sock, _early = call.hijack(streams.content_type(tty))
    wanted = {s for s, key in (("stdout", "OpenStdout"), ("stderr", "OpenStderr")) if record[key]}
    record["Running"] = True

    def spawn(stdio: tuple[int, int, int]) -> tuple[int, int]:
        pid, exit_r = spawn_attached(st.root_path, record["ContainerID"], stdio, record["OpenStdin"], options)
        record["Pid"] = pid
        return pid, exit_r

    try:
        pid, code = streams.run_with_client(sock, tty, record["OpenStdin"], wanted, spawn)
        os.waitpid(pid, 0)
        record["ExitCode"] = code if code is not None else 126
    except FreightError as err:  # the command could not start: the client reads why, and its code
        record["ExitCode"] = err.exit_code
        sock.sendall(streams.frame("stderr", f"{err}\n".encode(), tty))
    finally:
        record["Running"] = False


def inspect(call: Call) -> None:
    call.json(_get(call.args["id"]))


def resize(call: Call) -> None:
    record = _get(call.args["id"])
    if not record["Running"] or not record["Pid"]:
        raise HttpError(409, f"Exec {record['ID']} is not running")
    streams.resize_pty(record["Pid"], call.number("h") or 0, call.number("w") or 0)
    call.respond(201)


ROUTES = [
    ("POST", "/containers/{id}/exec", create),
    ("POST", "/exec/{id}/start", start),
    ("POST", "/exec/{id}/resize", resize),
    ("GET", "/exec/{id}/json", inspect),
]
