"""Output scripts depend on, side by side with Docker's: inspect's fields and zero values, the
``ps``/``images`` JSON rows and their escaping, ``ps``'s COMMAND, and exit codes of common slips."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
from testlib import CLI

from freight.store import Store

# Docker 20.10's daemon still reports these two; the API dropped them in 1.42 (Docker 23).
_GONE_FROM_DOCKER = {"HostConfig.KernelMemory", "HostConfig.KernelMemoryTCP"}
_TEMPLATES = ["{{.HostConfig.Memory}}", "{{.HostConfig.RestartPolicy}}", "{{.NetworkSettings.IPAddress}}",
              "{{.HostConfig.Dns}}", "{{.HostConfig.ExtraHosts}}", "{{.HostConfig.ShmSize}}",
              "{{.HostConfig.LogConfig}}", "{{.HostConfig.MemorySwap}}", "{{json .HostConfig.ExtraHosts}}",
              "{{.HostConfig.PidsLimit}}", "{{.Config.Labels}}", "{{.Config.Entrypoint}}", "{{.Config.Cmd}}",
              "{{if .HostConfig.Binds}}binds{{else}}none{{end}}", "{{.RestartCount}}", "{{.HostConfig.CpuShares}}"]


def _docker(command: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)


# What freight adds, as Podman does: where the container's OCI bundle is.
_FREIGHTS_OWN = {"OCIConfigPath"}


def _fields(value: dict[str, object], prefix: str = "") -> set[str]:
    """Dotted names of the fields, into nested objects other than maps keyed by data."""
    out = set()
    for key, inner in value.items():
        out.add(prefix + key)
        if isinstance(inner, dict) and key not in ("Labels", "Ports", "Networks", "Data", "Config"
                                                   if prefix == "HostConfig.LogConfig." else ""):
            out |= _fields(inner, f"{prefix}{key}.")
    return out


@pytest.fixture
def both(busybox_store: Store, cli: CLI, docker_busybox: list[str]) -> tuple[CLI, list[str]]:
    """freight and docker, each with a created container ``c1`` running ``echo 'a b' <x>``."""
    _docker(docker_busybox, "rm", "-f", "c1")
    for run in (lambda *a: cli(*a), lambda *a: _docker(docker_busybox, *a)):
        assert run("create", "--name", "c1", "--network", "none", "busybox", "echo", "a b", "<x>").returncode == 0
    return cli, docker_busybox


def test_inspect_has_every_field_of_dockers(both: tuple[CLI, list[str]]) -> None:
    cli, docker = both
    ours = json.loads(cli("inspect", "c1", check=True).stdout)[0]
    theirs = json.loads(_docker(docker, "inspect", "c1").stdout)[0]
    assert _fields(theirs) - _GONE_FROM_DOCKER == _fields(ours) - _FREIGHTS_OWN
    assert [k for k in ours if k not in _FREIGHTS_OWN] == list(theirs)
    assert [k for k in theirs["HostConfig"] if f"HostConfig.{k}" not in _GONE_FROM_DOCKER] == list(ours["HostConfig"])


def test_inspect_templates_print_dockers_zero_values(both: tuple[CLI, list[str]]) -> None:
    cli, docker = both
    for template in _TEMPLATES:
        ours = cli("inspect", "-f", template, "c1")
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == _docker(docker, "inspect", "-f", template, "c1").stdout, template


def test_ps_json_rows_match_dockers(both: tuple[CLI, list[str]]) -> None:
    cli, docker = both
    ours = json.loads(cli("ps", "-a", "--format", "{{json .}}", check=True).stdout)
    theirs = json.loads(_docker(docker, "ps", "-a", "--filter", "name=^c1$", "--format", "{{json .}}").stdout)
    assert sorted(ours) == sorted(theirs)
    for key in ("Command", "Names", "Networks", "State", "Status", "LocalVolumes", "Mounts", "Labels"):
        assert ours[key] == theirs[key], key
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC", ours["CreatedAt"])
    assert re.fullmatch(r"[\d.]+k?B \(virtual [\d.]+MB\)", ours["Size"])  # the disk the container uses
    raw = cli("ps", "-a", "--format", "{{json .}}").stdout
    assert "\\u003cx\\u003e" in raw and "<x>" not in raw  # json.Marshal of the row escapes HTML
    command = _docker(docker, "ps", "-a", "--filter", "name=^c1$", "--format", "{{json .Command}}").stdout
    assert cli("ps", "-a", "--format", "{{json .Command}}").stdout == command  # the function does not escape
    assert cli("ps", "-a", "--format", "{{.Command}}").stdout == '"echo \'a b\' <x>"\n'
    assert json.loads(cli("ps", "-a", "--format", "json").stdout)["Command"] == ours["Command"]  # the shorthand


def test_images_json_rows_match_dockers(both: tuple[CLI, list[str]]) -> None:
    cli, docker = both
    ours = json.loads(cli("images", "--format", "{{json .}}", check=True).stdout)
    theirs = json.loads(_docker(docker, "images", "busybox", "--format", "{{json .}}").stdout)
    assert sorted(ours) == sorted(theirs)
    assert ours["Digest"] == theirs["Digest"] == "<none>"
    assert "\\u003cnone\\u003e" in cli("images", "--format", "{{json .}}").stdout
    assert re.fullmatch(r"[\d.]+MB", ours["VirtualSize"]) and len(ours["VirtualSize"]) == len(theirs["VirtualSize"])


def test_images_are_listed_newest_first(cli: CLI, tmp_path: Path) -> None:
    for name in ("zzz", "aaa", "mmm"):  # imported in this order: created one after the other
        (tmp_path / name).write_text(name)
        with tarfile.open(tmp_path / f"{name}.tar", "w") as tar:
            tar.add(tmp_path / name, arcname=name)
        cli("import", str(tmp_path / f"{name}.tar"), f"{name}:latest", check=True)
    listed = cli("images", "--format", "{{.Repository}}", check=True).stdout.split()
    assert listed == ["mmm", "aaa", "zzz"]


def test_command_column_quotes_as_dockers(busybox_store: Store, cli: CLI) -> None:
    cli("create", "--name", "quoted", "busybox", "sh", "-c", 'echo "hi"\tthere', check=True)
    assert cli("ps", "-a", "--no-trunc", "--format", "{{.Command}}").stdout == \
        '"sh -c \'echo \\"hi\\"\\tthere\'"\n'


def test_slips_exit_as_dockers_do(cli: CLI, docker_busybox: list[str]) -> None:
    for args in (["rm", "-f", "nosuch"], ["rm", "nosuch"], ["nosuchcommand"]):
        ours, theirs = cli(*args), _docker(docker_busybox, *args)
        assert ours.returncode == theirs.returncode, args
    assert cli("nosuchcommand").stderr.startswith("freight: 'nosuchcommand' is not a freight command.\n")
    assert cli("rm", "-f", "nosuch").stderr == "Error response from daemon: No such container: nosuch\n"


def test_image_inspect_has_the_fields_of_a_current_docker(busybox_store: Store, cli: CLI,
                                                          docker_busybox: list[str]) -> None:
    ours = json.loads(cli("image", "inspect", "busybox", check=True).stdout)[0]
    theirs = json.loads(_docker(docker_busybox, "image", "inspect", "busybox").stdout)[0]
    # The 20.10 daemon here still has what API 1.44 (Docker 25) removed; 1.48 (Docker 28) added Descriptor.
    assert set(theirs) - {"Container", "ContainerConfig", "VirtualSize"} | {"Descriptor"} == set(ours)
    assert set(theirs["Config"]) == set(ours["Config"])


def test_ps_last_latest_and_size_as_dockers(both: tuple[CLI, list[str]]) -> None:
    cli, docker = both
    for run in (cli, lambda *a: _docker(docker, *a)):
        assert run("create", "--name", "c2", "--network", "none", "busybox", "true").returncode == 0
    try:
        for args in (["-n", "1"], ["--last", "2"], ["-l"], ["-n", "-1"]):
            names = ["ps", *args, "--format", "{{.Names}}"]
            assert cli(*names, check=True).stdout == _docker(docker, *names).stdout, args
        ours = cli("ps", "-a", "-s", check=True).stdout.splitlines()
        theirs = _docker(docker, "ps", "-a", "-s").stdout.splitlines()
        assert ours[0].split() == theirs[0].split() and ours[0].split()[-1] == "SIZE"
        assert re.search(r"[\d.]+k?B \(virtual [\d.]+MB\)$", ours[1])
    finally:
        _docker(docker, "rm", "-f", "c2")


def test_logs_details_and_stop_timeout_as_dockers(busybox_store: Store, cli: CLI, docker_busybox: list[str]) -> None:
    for run in (cli, lambda *a: _docker(docker_busybox, *a)):
        assert run("run", "--name", "told", "--network", "none", "busybox", "sh", "-c", "echo hi; echo there"
                   ).returncode == 0
    try:
        assert cli("logs", "--details", "told", check=True).stdout == \
            _docker(docker_busybox, "logs", "--details", "told").stdout == " hi\n there\n"
        for flag in ("-t", "--timeout", "--time"):
            assert cli("stop", flag, "1", "told").returncode == 0
            assert cli("restart", flag, "0", "told").returncode == 0
    finally:
        _docker(docker_busybox, "rm", "-f", "told")


def test_system_df_format_as_dockers(busybox_store: Store, cli: CLI, docker_busybox: list[str]) -> None:
    ours = [json.loads(line) for line in cli("system", "df", "--format", "json", check=True).stdout.splitlines()]
    theirs = [json.loads(line) for line in _docker(docker_busybox, "system", "df", "--format", "json").stdout
              .splitlines()]
    assert [sorted(row) for row in ours] == [sorted(row) for row in theirs] + [sorted(theirs[0])]  # + Temporary
    assert [row["Type"] for row in ours][:4] == [row["Type"] for row in theirs]
    table = cli("system", "df", "--format", "table {{.Type}}\t{{.TotalCount}}", check=True).stdout
    assert table.splitlines()[:2] == ["TYPE            TOTAL", "Images          1"]
