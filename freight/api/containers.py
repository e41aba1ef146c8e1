"""Container endpoints: create, start, wait, logs, list, inspect, top, stats, stop, restart,
kill, resize, remove, prune and archive (``docker cp``); attach is in ``streams``.

Each calls the library the CLI calls, so a container made here is the CLI's too
(``freight ps`` lists it, ``freight stop`` stops it) and belongs to its monitor.
"""

from __future__ import annotations

import base64
import json
import time
from signal import SIGKILL

from freight.api import forker, streams, summaries
from freight.api.http import Call, HttpError
from freight.errors import NotFound
from freight.image.schema import ConfigError, check_create_request
from freight.runtime import cp, lifecycle, logs
from freight.runtime.containers import get, list_containers
from freight.runtime.create import create
from freight.runtime.filters import parse_filters as parse_ps_filters
from freight.runtime.filters import select, shows_stopped
from freight.runtime.inspect import container_inspect
from freight.runtime.netsandbox import default_network_warning
from freight.runtime.network import parse_network_mode
from freight.runtime.prune import container_size, parse_filter_lists, prune_containers
from freight.runtime.signals import parse_signal
from freight.runtime.stats import sample
from freight.runtime.times import parse_time, timestamp
from freight.runtime.top import top
from freight.store import events

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.runtime.records import Container
    from freight.store import Store

_WAIT_POLL = 0.02


def filter_specs(call: Call) -> list[str]:
    """The ``filters`` parameter (``{"key": ["v"]}`` or the older ``{"key": {"v": true}}``) as
    the CLI's ``key=value`` strings."""
    filters = call.json_param("filters") or {}
    if not isinstance(filters, dict):
        raise HttpError(400, "invalid filters parameter")
    specs = []
    for key, values in filters.items():
        items = [v for v, on in values.items() if on] if isinstance(values, dict) else values
        specs += [f"{key}={value}" for value in items]
    return specs


def list_(call: Call) -> None:
    st = call.store
    filters = parse_ps_filters(filter_specs(call))
    found = list_containers(st, all=call.flag("all") or shows_stopped(filters))
    found = select(found, filters, lambda ref: get(st, ref))
    limit = call.number("limit")
    if limit is not None and limit > 0:
        found = found[:limit]
    size = call.flag("size")
    call.json([{**summaries.container(c), **({"SizeRw": container_size(st, c), "SizeRootFs": 0} if size else {})}
               for c in found])


def _create_body(call: Call) -> dict[str, Any]:
    """The create request, in the shapes the runtime takes (Docker's clients send strings
    where lists may be, and zero values for what they leave out)."""
    body = call.body_json()
    if not isinstance(body, dict):
        raise HttpError(400, "config cannot be empty in order to create a container")
    try:
        check_create_request(body)
    except ConfigError as err:
        raise HttpError(400, str(err)) from None
    host = body.get("HostConfig") or {}
    if host.get("NetworkMode"):
        parse_network_mode(host["NetworkMode"])
    if not (host.get("LogConfig") or {}).get("Type"):
        host.pop("LogConfig", None)
    body["HostConfig"] = {k: v for k, v in host.items() if v not in (None, "", [], {}) or k == "NetworkMode"}
    return body


def create_(call: Call) -> None:
    body = _create_body(call)
    name = call.param("name") or None
    c = create(call.store, body, name)
    warning = default_network_warning(body["HostConfig"])
    call.json({"Id": c.id, "Warnings": [warning] if warning else []}, 201)


def inspect(call: Call) -> None:
    st = call.store
    c = get(st, call.args["id"])
    out = container_inspect(st, c)
    if call.flag("size"):
        out["SizeRw"] = container_size(st, c)
        out["SizeRootFs"] = 0
    call.json(out)


def start(call: Call) -> None:
    st = call.store
    c = get(st, call.args["id"])
    if c.running:
        call.respond(304)
        return
    if not streams.start_pending(c):  # else a client attached first: it views the start
        forker.current().start(c.id)
    call.respond(204)


def stop(call: Call) -> None:
    st = call.store
    c = get(st, call.args["id"])
    if not c.running:
        call.respond(304)
        return
    lifecycle.stop(st, c.id, call.number("t"), call.param("signal") or None)
    call.respond(204)


def restart(call: Call) -> None:
    st = call.store
    c = get(st, call.args["id"])
    lifecycle.stop(st, c.id, call.number("t"), call.param("signal") or None)
    forker.current().start(c.id)
    call.respond(204)


def kill(call: Call) -> None:
    """``POST /containers/{id}/kill``: with SIGKILL (the default) answered once the container
    stopped, as dockerd does, so that a ``docker rm`` right after finds it stopped."""
    signal = call.param("signal") or "KILL"
    c = lifecycle.kill(call.store, call.args["id"], signal)
    if parse_signal(signal) == SIGKILL:
        try:
            lifecycle.wait_recorded(call.store, c.id, timeout=5.0)
        except NotFound:  # removed on its exit (--rm)
            pass
    call.respond(204)


def remove(call: Call) -> None:
    lifecycle.remove(call.store, call.args["id"], call.flag("force"), call.flag("v"))
    call.respond(204)


def _exit_seen(store: Store, cid: str, condition: str, last: dict[str, Any], finished: str,
               watch: list[streams.ExitWatch]) -> dict[str, Any] | None:
    """The state that ends a wait for ``condition``, or None to keep waiting. A removed
    container ends any wait, with the state last seen (``last``, kept up to date here) and
    the exit code its monitor sent (``watch``: a viewer of it, made once it runs)."""
    try:
        c = get(store, cid)
    except NotFound:
        code = watch[0].check() if watch else None
        if code is None:
            code = streams.exit_code_of_attached(cid)
        if code is None:  # gone before a viewer could see it: its monitor logged the exit first
            code = _logged_exit_code(store, cid)
        return last if code is None else {**last, "ExitCode": code}
    state = c.state
    last.clear()
    last.update(state)
    if state.get("Running"):
        if not watch:
            watch.append(streams.ExitWatch(store, c))
        watch[0].check()
        return None
    if condition == "removed" or condition == "next-exit" and state.get("FinishedAt") == finished:
        return None
    return state


def _logged_exit_code(store: Store, cid: str) -> int | None:
    """The exit code of the last ``die`` event of container ``cid`` in the store's event log."""
    code = None
    for e in events.read(store.root_path):
        actor = e.get("Actor")
        if e.get("Action") == "die" and isinstance(actor, dict) and actor.get("ID") == cid:
            code = (actor.get("Attributes") or {}).get("exitCode")
    return int(code) if code is not None else None


def wait(call: Call) -> None:
    """``POST /containers/{id}/wait``: the headers at once (``docker run`` posts this before
    ``start`` and waits for them), the exit code when the condition is met."""
    condition = call.param("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise HttpError(400, f"invalid condition: {condition}")
    st = call.store
    c = get(st, call.args["id"])
    last = dict(c.state)
    finished = str(c.state.get("FinishedAt"))
    watch: list[streams.ExitWatch] = []
    call.start("application/json")
    try:
        while (state := _exit_seen(st, c.id, condition, last, finished, watch)) is None:
            if call.client_gone():
                return
            time.sleep(_WAIT_POLL)
    finally:
        for viewer in watch:
            viewer.close()
    error = state.get("Error") or None
    call.send_json({"StatusCode": int(state.get("ExitCode") or 0), "Error": {"Message": error} if error else None})
    call.end()


def container_logs(call: Call) -> None:
    st = call.store
    c = get(st, call.args["id"])
    if not (call.flag("stdout") or call.flag("stderr")):
        raise HttpError(400, "Bad parameters: you must choose at least one stream")
    tail_text = call.param("tail", "all")
    tail = None if tail_text in ("all", "") else int(tail_text) if tail_text.lstrip("-").isdigit() else None
    since = parse_time(call.param("since")) if call.param("since") not in ("", "0") else 0.0
    until = parse_time(call.param("until")) if call.param("until") not in ("", "0") else float("inf")
    tty = bool(c.config.get("Tty"))
    wanted = {s for s in ("stdout", "stderr") if call.flag(s)}
    call.start(streams.content_type(tty))
    for record in logs.records(st, c, tail, since, until, follow=call.flag("follow"), stopped=call.client_gone):
        stream = record.get("stream", "stdout")
        if stream not in wanted:
            continue
        text = (f"{record['time']} " if call.flag("timestamps") else "") + record["log"]
        call.send(streams.frame(stream, text.encode(), tty))
    call.end()


def container_top(call: Call) -> None:
    ps_args = call.param("ps_args")
    titles, rows = top(call.store, call.args["id"], ps_args.split() if ps_args else None)
    call.json({"Titles": titles, "Processes": rows})


def _stats_json(c: Container, read: str, cpu_percent: float, memory: int, limit: int, net: tuple[int, int],
                block: tuple[int, int], pids: int) -> dict[str, Any]:
    """Docker's stats shape; the CPU counters are such that the client's formula gives ``cpu_percent``."""
    system = 10 ** 12
    return {
        "read": read, "preread": read, "id": c.id, "name": "/" + c.name,
        "pids_stats": {"current": pids},
        "cpu_stats": {"cpu_usage": {"total_usage": int(cpu_percent / 100 * system), "usage_in_kernelmode": 0,
                                    "usage_in_usermode": 0},
                      "system_cpu_usage": 2 * system, "online_cpus": 1, "throttling_data": {}},
        "precpu_stats": {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": system, "online_cpus": 1},
        "memory_stats": {"usage": memory, "limit": limit, "stats": {}},
        "networks": {"eth0": {"rx_bytes": net[0], "tx_bytes": net[1], "rx_packets": 0, "tx_packets": 0,
                              "rx_errors": 0, "tx_errors": 0, "rx_dropped": 0, "tx_dropped": 0}},
        "blkio_stats": {"io_service_bytes_recursive": [{"major": 0, "minor": 0, "op": "read", "value": block[0]},
                                                       {"major": 0, "minor": 0, "op": "write", "value": block[1]}]},
    }


def stats(call: Call) -> None:
    st = call.store
    c = get(st, call.args["id"])
    stream = call.flag("stream", True) and not call.flag("one-shot")
    call.start("application/json")
    while True:
        current = get(st, c.id)
        if not current.running:
            call.send_json(_stats_json(c, timestamp(), 0.0, 0, 0, (0, 0), (0, 0), 0))
            break
        s = sample([current], interval=0.5 if stream else 0.1)[0]
        call.send_json(_stats_json(c, timestamp(), s.cpu_percent, s.memory_usage, s.memory_limit,
                                   (s.net_rx, s.net_tx), (s.block_read, s.block_write), s.pids))
        if not stream or call.client_gone():
            break
    call.end()


def resize(call: Call) -> None:
    c = get(call.store, call.args["id"])
    if not c.running:
        raise HttpError(409, f"Container {c.id} is not running")
    streams.resize(call.store, c, call.number("h") or 0, call.number("w") or 0)
    call.respond(200)


def prune(call: Call) -> None:
    filters = parse_filter_lists(filter_specs(call), ("until", "label", "label!"))
    removed, reclaimed = prune_containers(call.store, filters)
    call.json({"ContainersDeleted": removed or None, "SpaceReclaimed": reclaimed})


def _path_stat_header(store: Store, ref: str, path: str) -> str:
    stat = cp.path_stat(store, ref, path)
    return base64.b64encode(json.dumps(stat).encode()).decode()


def archive_head(call: Call) -> None:
    path = call.param("path")
    if not path:
        raise HttpError(400, "path is required")
    header = _path_stat_header(call.store, call.args["id"], path)
    call.respond(200, b"", None, {"X-Docker-Container-Path-Stat": header})


def archive_get(call: Call) -> None:
    st = call.store
    path = call.param("path")
    if not path:
        raise HttpError(400, "path is required")
    header = _path_stat_header(st, call.args["id"], path)
    call.start("application/x-tar", headers={"X-Docker-Container-Path-Stat": header})
    out = streams.answer_file(call)
    cp.copy_out(st, call.args["id"], path, "-", archive=True, stdout=out)
    out.flush()
    call.end()


def archive_put(call: Call) -> None:
    path = call.param("path")
    if not path:
        raise HttpError(400, "path is required")
    cp.copy_in(call.store, call.args["id"], "-", path, archive=True, stdin=streams.body_file(call))
    call.respond(200)


ROUTES = [
    ("GET", "/containers/json", list_),
    ("POST", "/containers/create", create_),
    ("POST", "/containers/prune", prune),
    ("GET", "/containers/{id}/json", inspect),
    ("POST", "/containers/{id}/start", start),
    ("POST", "/containers/{id}/stop", stop),
    ("POST", "/containers/{id}/restart", restart),
    ("POST", "/containers/{id}/kill", kill),
    ("POST", "/containers/{id}/wait", wait),
    ("POST", "/containers/{id}/attach", streams.attach),
    ("GET", "/containers/{id}/logs", container_logs),
    ("GET", "/containers/{id}/top", container_top),
    ("GET", "/containers/{id}/stats", stats),
    ("POST", "/containers/{id}/resize", resize),
    ("HEAD", "/containers/{id}/archive", archive_head),
    ("GET", "/containers/{id}/archive", archive_get),
    ("PUT", "/containers/{id}/archive", archive_put),
    ("DELETE", "/containers/{id}", remove),
]
