"""Errors read as the docker CLI prints them: the engine's answers for a missing object or a
conflict come ``from daemon``, the CLI's own lines do not; side by side with the current docker
CLI on a private dockerd, for the same commands on objects that do not exist."""

from __future__ import annotations

import subprocess

import pytest
from testlib import CLI

# Commands whose stderr and exit status are the same, word for word, as the docker CLI's.
_SAME = ["rm nosuch", "rm -f nosuch", "stop nosuch", "start nosuch", "restart nosuch", "kill nosuch",
         "logs nosuch", "exec nosuch ls", "inspect nosuch", "container inspect nosuch", "rmi nosuch",
         "image rm nosuch", "container rm nosuch", "tag nosuch x", "history nosuch", "top nosuch",
         "port nosuch", "wait nosuch", "attach nosuch", "pause nosuch", "unpause nosuch", "rename nosuch x",
         "update --memory 10m nosuch", "diff nosuch", "export nosuch", "commit nosuch",
         "stats --no-stream nosuch", "volume rm nosuch", "volume inspect nosuch", "network rm nosuch",
         "network inspect nosuch", "cp nosuch:/x .", "inspect nosuch othernosuch", "save nosuch"]


@pytest.mark.parametrize("command", _SAME)
def test_missing_objects_are_reported_as_the_docker_cli_reports_them(cli: CLI, dockerd: str, command: str) -> None:
    theirs = subprocess.run(["docker", "--host", dockerd, *command.split()], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    ours = cli(*command.split())
    assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr)
    assert ours.stdout == theirs.stdout  # ``[]`` from inspect, nothing from the others


def test_the_engines_answers_and_the_commands_own_lines(cli: CLI) -> None:
    assert cli("rmi", "nosuch").stderr == "Error response from daemon: No such image: nosuch:latest\n"
    started = cli("start", "nosuch", "othernosuch")
    assert (started.returncode, started.stderr) == (1, "Error response from daemon: No such container: nosuch\n"
                                                       "Error response from daemon: No such container: othernosuch\n"
                                                       "Error: failed to start containers: nosuch, othernosuch\n")
    bad = cli("tag", "nosuch", "UPPER")  # the new name is read before the image is looked for
    assert (bad.returncode, bad.stderr.startswith("Error: invalid reference format")) == (1, True)
