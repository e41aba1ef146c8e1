"""``version``, ``info`` and ``search``: Docker's layouts and fields, freight's facts."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from testlib import CLI, serve_http, stop_http

from freight import __version__
from freight.store import Store

# Docker 20.10's daemon still reports these; the API dropped them in 1.42 (Docker 23).
_GONE_FROM_DOCKER = {"KernelMemory", "KernelMemoryTCP"}


def _labels(text: str) -> set[str]:
    return {m[1] for m in re.finditer(r"^ +([A-Za-z][\w /-]*?):", text, re.M)}


def test_version(cli: CLI) -> None:
    out = cli("version", check=True).stdout
    assert out.startswith(f"Client:\n Version:           {__version__}\n")
    assert "\nServer:\n Engine:\n  Version:          " in out
    assert cli("version", "-f", "{{.Client.Version}} {{.Server.Version}}").stdout == \
        f"{__version__} {__version__}\n"
    data = json.loads(cli("version", "-f", "{{json .}}").stdout)
    assert {"Version", "ApiVersion", "Os", "Arch", "Context"} <= set(data["Client"])
    assert data["Server"]["Components"][0]["Name"] == "Engine"


def test_info_counts_the_store_and_names_the_host(busybox_store: Store, cli: CLI,
                                                  docker_busybox: list[str]) -> None:
    cli("create", "--name", "one", "busybox", "true", check=True)
    cli("run", "-d", "--name", "two", "busybox", "sleep", "30", check=True)
    out = cli("info", check=True).stdout
    assert " Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n" in out
    cgroup = "2" if open("/proc/self/mountinfo").read().count(" /sys/fs/cgroup cgroup2 ") else "1"
    assert f" Cgroup Version: {cgroup}\n" in out and f" Docker Root Dir: {busybox_store.root}\n" in out
    docker_out = subprocess.run([*docker_busybox, "info"], capture_output=True, text=True).stdout
    assert _labels(out) <= _labels(docker_out), _labels(out) - _labels(docker_out)
    ours = json.loads(cli("info", "-f", "{{json .}}").stdout)
    theirs = json.loads(subprocess.run([*docker_busybox, "info", "-f", "{{json .}}"], capture_output=True,
                                       text=True).stdout)
    assert set(theirs) - _GONE_FROM_DOCKER <= set(ours)
    assert (ours["ContainersRunning"], ours["Images"], ours["CgroupVersion"]) == (1, 1, cgroup)
    assert "freight" in ours["Runtimes"]
    cli("rm", "-f", "two", check=True)


def test_search_reads_a_registry_catalog(busybox_store: Store, cli: CLI, registry: Callable[..., str]) -> None:
    host = registry("freight")
    for name in ("busybox", "tools/mybox", "other"):
        cli("tag", "busybox", f"{host}/{name}:1", check=True)
        cli("push", f"{host}/{name}:1", check=True)
    out = cli("search", f"{host}/box", check=True).stdout.splitlines()
    assert out[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert sorted(line.split()[0] for line in out[1:]) == [f"{host}/busybox", f"{host}/tools/mybox"]
    assert cli("search", "--limit", "1", "--format", "{{.Name}}", f"{host}/box").stdout.count("\n") == 1
    bad = cli("search", "--limit", "0", f"{host}/box")
    assert (bad.returncode, bad.stderr) == (1, "Error: limit 0 is outside the range of [1, 100]\n")


class _NoCatalog(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200 if self.path == "/v2/" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_search_says_when_a_registry_has_no_catalog(cli: CLI) -> None:
    server = serve_http(_NoCatalog)
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        result = cli("search", f"{host}/box")
    finally:
        stop_http(server)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {host} does not list its repositories")
    assert result.stderr.strip().endswith("search needs a registry that offers its catalog")


def test_system_info_and_events_are_the_same_commands(busybox_store: Store, cli: CLI) -> None:
    assert cli("system", "info", "-f", "{{.Images}} {{.Driver}}", check=True).stdout == "1 overlay\n"
    start = time.time()  # after the fixture's import of busybox, an event of its own
    cli("volume", "create", "seen", check=True)
    window = ["--since", f"{start:.3f}", "--until", "0s", "--format", "{{.Type}} {{.Action}} {{.Actor.ID}}"]
    assert cli("system", "events", *window, check=True).stdout == cli("events", *window).stdout == \
        "volume create seen\n"
