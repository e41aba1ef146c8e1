"""``GET /events`` through the service: the store's one event log, so what a ``freight run``
in another terminal did is what ``docker events`` and docker-py's ``events`` see."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import docker
from apilib import Service
from registries import RegistryProcess
from testlib import run_freight


def _run_with_the_cli(service: Service) -> tuple[float, str, float]:
    since = time.time()
    cid = run_freight(service.root, "run", "--name", "evt", "busybox", "true", check=True).stdout.strip()
    if not cid:
        cid = run_freight(service.root, "inspect", "--format", "{{.Id}}", "evt", check=True).stdout.strip()
    return since, cid, time.time() + 1


def test_docker_events_sees_a_freight_run(service: Service) -> None:
    since, cid, until = _run_with_the_cli(service)
    out = service.docker("events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
                         "--filter", "container=evt", "--format", "{{.Type}} {{.Action}} {{.Actor.ID}}").stdout
    lines = out.splitlines()
    assert [line.split()[1] for line in lines][:3] == ["create", "start", "die"]
    assert all(line.split()[0] == "container" and line.split()[2] == cid for line in lines)
    assert service.docker("events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
                          "--filter", "event=destroy").stdout == ""
    bad = service.docker("events", "--filter", "colour=red", "--until", "1", check=False)
    assert bad.returncode == 1 and "invalid filter 'colour'" in bad.stderr


def test_docker_py_events_decode(service: Service) -> None:
    since, cid, until = _run_with_the_cli(service)
    client = docker.APIClient(base_url=f"unix://{service.sock}", timeout=60)
    try:
        found = list(client.events(decode=True, since=since, until=until, filters={"type": "container"}))
    finally:
        client.close()
    assert [e["Action"] for e in found if e["id"] == cid][:3] == ["create", "start", "die"]
    assert all(e["Type"] == "container" for e in found)
    assert found[0]["Actor"]["Attributes"]["name"] == "evt"


def test_image_events_of_the_service_and_the_cli(service: Service, tmp_path: Path,
                                                 start_registry: Callable[..., RegistryProcess]) -> None:
    name = f"{start_registry().host}/tools/box:1"
    since = time.time()
    image_id = service.freight("image", "inspect", "-f", "{{.Id}}", "busybox").stdout.strip()
    service.docker("tag", "busybox", name)
    service.docker("push", name)
    service.docker("rmi", name)
    service.docker("pull", name)
    service.docker("save", "-o", str(tmp_path / "box.tar"), name)
    service.docker("load", "-i", str(tmp_path / "box.tar"))
    run_freight(service.root, "tag", "busybox", "by-cli:1", check=True)
    run_freight(service.root, "rmi", "by-cli:1", check=True)
    imported = service.docker("import", str(tmp_path / "box.tar"), "from-tar").stdout.strip()
    out = service.docker("events", "--since", f"{since:.3f}", "--until", f"{time.time() + 0.2:.3f}",
                         "--filter", "type=image", "--format", "{{.Action}} {{.Actor.ID}}").stdout
    assert out.splitlines() == [f"tag {image_id}", f"push {name}", f"untag {name}", f"pull {name}",
                                f"save {image_id}", f"load {image_id}", f"tag {image_id}", "untag by-cli:1",
                                f"import {imported}"]
