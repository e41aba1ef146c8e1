"""Help laid out as Docker's (usage lines side by side with the docker CLI's), ``freight help
COMMAND``, and ``login``'s warnings and refusals."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from registries import write_htpasswd
from testlib import CLI

_SAME_USAGE = ["images", "ps", "run", "create", "rm", "rmi", "pull", "tag", "commit", "diff", "export", "rename",
               "pause", "unpause", "update", "events", "version", "info", "search", "logs", "stop", "kill", "exec",
               "start", "restart", "inspect", "history", "import", "save", "load", "login", "logout", "top",
               "stats", "port", "wait", "attach", "build", "image ls", "volume ls", "system df", "image prune",
               "container prune", "volume create", "cp", "container ls", "container list", "container remove",
               "builder build"]


def _usage(text: str) -> str:
    """The usage line, with the lines of a command's other forms (``cp``'s) under it."""
    found = re.search(r"^Usage:.*\n(?:\t.*\n)*", text, re.M)
    assert found is not None, text
    return found[0]


def _aliases(text: str) -> str | None:
    found = re.search(r"^Aliases:\n.*\n", text, re.M)
    return found[0] if found else None


def test_usage_lines_match_the_docker_cli(cli: CLI) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("needs the docker CLI (Debian package docker.io)")
    for command in _SAME_USAGE:
        theirs = subprocess.run([docker, *command.split(), "--help"], capture_output=True, text=True).stdout
        ours = cli(*command.split(), "--help").stdout
        assert _usage(ours).replace("freight", "docker") == _usage(theirs), command


def test_aliases_are_listed_as_the_docker_cli_lists_them(cli: CLI) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("needs the docker CLI (Debian package docker.io)")
    paths = [*_SAME_USAGE, "container ps", "container rm", "image list", "image remove", "image build",
             "network ls", "network list", "network rm", "volume list", "volume rm", "system events", "system info",
             "network create", "container inspect"]
    listed = 0
    for command in paths:
        theirs = subprocess.run([docker, *command.split(), "--help"], capture_output=True, text=True).stdout
        ours = cli(*command.split(), "--help", check=True).stdout
        assert (_aliases(ours) or "").replace("freight", "docker") == (_aliases(theirs) or ""), command
        listed += _aliases(ours) is not None
    assert listed >= 40


def test_listing_options_read_as_dockers(cli: CLI) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("needs the docker CLI (Debian package docker.io)")
    for command in ("images", "ps"):
        theirs = subprocess.run([docker, command, "--help"], capture_output=True, text=True).stdout
        ours = cli(command, "--help", check=True).stdout
        for row in re.finditer(r"^  (?:-\w, |    )--([\w-]+).*\n(?: {20,}.*\n)*", ours, re.M):
            match = re.search(rf"^  (?:-\w, |    )--{row[1]}\b.*\n(?: {{20,}}.*\n)*", theirs, re.M)
            assert match is not None and match[0] == row[0], (command, row[0])


def test_help_is_laid_out_as_dockers(cli: CLI) -> None:
    text = cli("images", "--help", check=True).stdout
    assert text.startswith("Usage:  freight images [OPTIONS] [REPOSITORY[:TAG]]\n\nList images\n\nAliases:\n"
                           "  freight image ls, freight image list, freight images\n\nOptions:\n")
    assert re.search(r"^  -f, --filter filter   Filter output based on conditions provided$", text, re.M)
    assert re.search(r"^      --format string   Format output", text, re.M)
    assert re.search(r"^  -a, --all             Show all images \(default hides intermediate images\)$", text, re.M)
    options = re.findall(r"^  (?:-\w, |    )--([\w-]+)", text, re.M)
    assert options == sorted(options)
    top = cli("--help", check=True).stdout
    sections = re.findall(r"^(\w[\w ]*):$", top, re.M)
    assert sections == ["Common Commands", "Management Commands", "Commands", "Global Options"]
    common = top.split("Common Commands:\n")[1].split("\n\n")[0]
    assert [line.split()[0] for line in common.splitlines()][:3] == ["run", "exec", "ps"]
    assert top.rstrip().endswith("Run 'freight COMMAND --help' for more help on a command.")


def test_help_command(cli: CLI) -> None:
    assert cli("help", "images", check=True).stdout == cli("images", "--help").stdout
    assert cli("help", "image", "ls", check=True).stdout == cli("image", "ls", "--help").stdout
    assert cli("help").stdout == cli("--help").stdout
    unknown = cli("help", "nosuch")
    assert (unknown.returncode, unknown.stderr) == (1, "freight: 'nosuch' is not a freight command.\n"
                                                       "See 'freight --help'\n")


def test_login_refuses_an_empty_username_as_docker(cli: CLI) -> None:
    for args, stdin in ((["-u", "", "-p", "x"], None), (["-u", " ", "--password-stdin"], "x\n")):
        result = cli("login", *args, "127.0.0.1:1", input=stdin)
        assert (result.returncode, result.stderr) == (1, "username is empty\n")


def test_login_warns_that_the_password_is_stored_unencrypted(cli: CLI, docker_config: Path,
                                                             registry: Callable[..., str], tmp_path: Path) -> None:
    host = registry("freight", htpasswd=write_htpasswd(tmp_path / "htpasswd", "ann", "secret"))
    result = cli("login", "-u", "ann", "--password-stdin", host, input="secret")
    assert result.stdout == "Login Succeeded\n"
    assert result.stderr == (f"\nWARNING! Your credentials are stored unencrypted in "
                             f"'{docker_config / 'config.json'}'.\nConfigure a credential helper to remove this "
                             "warning. See\nhttps://docs.docker.com/go/credential-store/\n\n")
