"""``POST /build`` streams the classic builder's lines (``Step 1/3 : FROM busybox``,
`` ---> <id>``, ``Successfully built <id>``): what the docker CLI with ``DOCKER_BUILDKIT=0``
prints against Docker's daemon, and what docker-py reads."""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path

import docker
from apilib import Service

_DOCKERFILE = "FROM busybox\nRUN echo built > /x && echo second line\nCOPY f.txt /f.txt\n"


def _shape(out: str) -> list[str]:
    """The lines, IDs as ``<id>``, without the client's own (the context upload)."""
    return [re.sub(r"\b[0-9a-f]{12}\b", "<id>", line) for line in out.splitlines()
            if not line.startswith("Sending build context")]


def _context(tmp_path: Path, dockerfile: str) -> str:
    context = tmp_path / "context"
    context.mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    (context / "f.txt").write_text("f\n")
    return str(context)


def test_the_build_stream_is_the_classic_builder_s(service: Service, docker_busybox: list[str],
                                                    tmp_path: Path) -> None:
    context = _context(tmp_path, _DOCKERFILE)
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    for attempt in ("built", "cached"):
        ours = service.docker("build", "-t", "classic:1", context).stdout
        theirs = subprocess.run([*docker_busybox, "build", "-t", "classic:1", context], env=env,
                                capture_output=True, text=True, timeout=120)
        assert theirs.returncode == 0, theirs.stderr
        assert _shape(ours) == _shape(theirs.stdout), attempt
    image_id = service.docker("image", "inspect", "-f", "{{.Id}}", "classic:1").stdout.strip()
    assert ours.splitlines()[-3:-1] == [f" ---> {image_id[7:19]}", f"Successfully built {image_id[7:19]}"]
    subprocess.run([*docker_busybox, "rmi", "classic:1"], capture_output=True)
    failing = _context(tmp_path / "failing", "FROM busybox\nRUN echo out; exit 3\n")
    ours_failed = service.docker("build", failing, check=False)
    theirs_failed = subprocess.run([*docker_busybox, "build", failing], env=env, capture_output=True, text=True,
                                   timeout=120)
    assert (ours_failed.returncode, _shape(ours_failed.stdout)) == (theirs_failed.returncode,
                                                                    _shape(theirs_failed.stdout)) == (3, [
        "", "Step 1/2 : FROM busybox", " ---> <id>", "Step 2/2 : RUN echo out; exit 3", " ---> Running in <id>", "out"])
    assert ours_failed.stderr.splitlines()[-1] == theirs_failed.stderr.splitlines()[-1] == \
        "The command '/bin/sh -c echo out; exit 3' returned a non-zero code: 3"
    for leftover in (["container", "prune", "-f"], ["image", "prune", "-f"]):  # the shared daemon's failed step
        subprocess.run([*docker_busybox, *leftover], capture_output=True, timeout=60)


def test_config_steps_multi_stage_and_docker_py(service: Service, tmp_path: Path) -> None:
    dockerfile = ("ARG BASE=busybox\nFROM $BASE AS first\nRUN echo one > /one\n"
                  "FROM busybox\nENV A=1\nCOPY --from=first /one /one\nCMD cat /one\n")
    out = service.docker("build", "-t", "staged:1", _context(tmp_path, dockerfile)).stdout
    steps = [line for line in out.splitlines() if line.startswith("Step ")]
    assert steps == ["Step 1/7 : ARG BASE=busybox", "Step 2/7 : FROM $BASE AS first", "Step 3/7 : RUN echo one > /one",
                     "Step 4/7 : FROM busybox", "Step 5/7 : ENV A=1", "Step 6/7 : COPY --from=first /one /one",
                     "Step 7/7 : CMD cat /one"]  # the global ARG counts, as in Docker's numbering
    env_step = out.split("Step 5/7 : ENV A=1\n")[1].splitlines()[0]
    assert re.fullmatch(r" ---> [0-9a-f]{12}", env_step)  # no container runs for a config step
    client = docker.DockerClient(base_url=f"unix://{service.sock}", timeout=60)
    try:
        image, logs = client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 0\n"), tag="py:1")
        stream = "".join(entry.get("stream", "") for entry in logs)
        assert re.fullmatch(r"Step 1/2 : FROM busybox\n ---> [0-9a-f]{12}\nStep 2/2 : RUN exit 0\n"
                            r" ---> Running in ([0-9a-f]{12})\nRemoving intermediate container \1\n"
                            r" ---> ([0-9a-f]{12})\nSuccessfully built \2\nSuccessfully tagged py:1\n", stream), stream
        assert image.id[7:19] == stream.split("Successfully built ")[1][:12]
    finally:
        client.close()
