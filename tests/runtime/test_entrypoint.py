"""Docker's ENTRYPOINT/CMD rules, from the library's merge and through ``freight run``."""

from __future__ import annotations

import pytest

from freight.errors import FreightError
from freight.runtime.hostconfig import command_of, merge_image_config

IMAGE_BOTH = {"config": {"Entrypoint": ["/bin/echo", "ep"], "Cmd": ["cmd"]}}
IMAGE_CMD = {"config": {"Cmd": ["/bin/echo", "c"]}}
IMAGE_NONE: dict = {"config": {}}


@pytest.mark.parametrize(("image", "body", "expected"), [
    (IMAGE_BOTH, {}, ["/bin/echo", "ep", "cmd"]),
    (IMAGE_BOTH, {"Cmd": ["x"]}, ["/bin/echo", "ep", "x"]),
    (IMAGE_BOTH, {"Entrypoint": ["printf"]}, ["printf"]),
    (IMAGE_BOTH, {"Entrypoint": ["printf"], "Cmd": ["y"]}, ["printf", "y"]),
    (IMAGE_BOTH, {"Entrypoint": [""], "Cmd": ["ls"]}, ["ls"]),
    (IMAGE_CMD, {}, ["/bin/echo", "c"]),
    (IMAGE_CMD, {"Cmd": ["id"]}, ["id"]),
    (IMAGE_CMD, {"Entrypoint": ["env"]}, ["env"]),
    (IMAGE_NONE, {"Cmd": ["true"]}, ["true"]),
])
def test_merge_rules(image: dict, body: dict, expected: list[str]) -> None:
    assert command_of(merge_image_config(body, image)) == expected


def test_no_command_is_an_error() -> None:
    with pytest.raises(FreightError, match="no command specified"):
        merge_image_config({}, IMAGE_NONE)
    with pytest.raises(FreightError, match="no command specified"):
        merge_image_config({"Entrypoint": [""]}, IMAGE_CMD | {"config": {}})


def test_env_merge_user_wins() -> None:
    config = merge_image_config({"Cmd": ["x"], "Env": ["A=2", "C=3"]}, {"config": {"Env": ["A=1", "B=1"]}})
    assert config["Env"] == ["A=2", "B=1", "C=3"]


def test_rules_end_to_end(runtime_store, cli, busybox_image) -> None:
    busybox_image("ep:1", Entrypoint=["/bin/echo", "ep"], Cmd=["cmd"])
    busybox_image("nocmd:1")
    assert cli("run", "--rm", "ep:1").stdout == "ep cmd\n"
    assert cli("run", "--rm", "ep:1", "a", "b").stdout == "ep a b\n"
    assert cli("run", "--rm", "--entrypoint", "echo", "ep:1").stdout == "\n"
    assert cli("run", "--rm", "--entrypoint", "echo", "ep:1", "z").stdout == "z\n"
    result = cli("run", "--rm", "nocmd:1")
    assert result.returncode == 125 and "no command specified" in result.stderr
