"""Inputs that once gave a traceback or were wrongly accepted: each now gets Docker's message
(or a one-line freight message where Docker has none) and Docker's exit code, through the
real CLI; some of them Docker accepts, and so does freight now.

The messages were checked against Docker 20.10's daemon and BuildKit on this kind of
machine: ``docker load`` of a config with ``"Cmd": 42``, ``--tmpfs /x:size=abc``,
``FROM --platform=zzz``, a cycle of ``COPY --from``, a Dockerfile with invalid UTF-8.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from imagelib import sha256_digest, tar_of
from testlib import CLI

from freight.image.canonical import canonical_json, image_manifest
from freight.image.reference import parse as parse_reference
from freight.store import Store

CAFE = "caf\udce9"  # the file name b"caf\xe9" (Latin-1, not UTF-8) as os.listdir gives it
DEEP = "${a:-" * 2000 + "deep" + "}" * 2000


def _save(cli: CLI, tmp_path: Path) -> Path:
    out = tmp_path / "busybox.tar"
    cli("save", "busybox", "-o", str(out), check=True)
    return out


def _archive_with_config(cli: CLI, tmp_path: Path, change: Callable[[dict[str, Any]], None], tag: str) -> Path:
    """busybox saved as a docker-archive whose config ``change`` has edited."""
    with tarfile.open(_save(cli, tmp_path)) as tar:
        entry = json.loads(tar.extractfile("manifest.json").read())[0]  # type: ignore[union-attr]
        config = json.loads(tar.extractfile(entry["Config"]).read())  # type: ignore[union-attr]
        layers = {name: tar.extractfile(name).read() for name in entry["Layers"]}  # type: ignore[union-attr]
    change(config)
    data = json.dumps(config).encode()
    name = sha256_digest(data)[7:] + ".json"
    files = {**layers, name: data,
             "manifest.json": json.dumps([{"Config": name, "RepoTags": [tag], "Layers": list(layers)}]).encode()}
    out = tmp_path / f"{tag.replace(':', '-')}.tar"
    out.write_bytes(tar_of(files))
    return out


def _store_unchecked(store: Store, change: Callable[[dict[str, Any]], None], tag: str) -> None:
    """An image whose config Docker could not read, stored as a freight that did not check
    configs stored it (past ``add_image``)."""
    base = store.resolve_image("busybox")
    config = json.loads(json.dumps(base.config))
    change(config)
    data = canonical_json(config)
    config_digest = store.blobs.put(data)
    manifest = store.blobs.put(canonical_json(image_manifest(config_digest, len(data), base.layers)))
    store.images.insert(config_digest, manifest, config["created"], base.size, [parse_reference(tag)], None)


def _context(tmp_path: Path, dockerfile: bytes, files: dict[bytes, bytes] | None = None) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_bytes(dockerfile)
    for name, content in (files or {}).items():
        (ctx.joinpath(name.decode("utf-8", "surrogateescape"))).write_bytes(content)
    return ctx


def _cmd_42(config: dict[str, Any]) -> None:
    config["config"]["Cmd"] = 42


CMD_42 = "json: cannot unmarshal number into Go struct field Config.config.Cmd of type string"

# name -> (setup returning the command line, exit code, the one error line's fragment)
CASES: dict[str, tuple[Callable[[Store, CLI, Path], list[str]], int, str]] = {
    "load a config with Cmd 42": (
        lambda s, cli, tmp: ["load", "-i", str(_archive_with_config(cli, tmp, _cmd_42, "bad:cmd"))], 1, CMD_42),
    "run a stored config with Cmd 42": (
        lambda s, cli, tmp: (_store_unchecked(s, _cmd_42, "stored:cmd"), ["run", "--rm", "stored:cmd"])[1],
        125, CMD_42),
    "load a config with a number in Env": (
        lambda s, cli, tmp: ["load", "-i", str(_archive_with_config(
            cli, tmp, lambda c: c["config"].__setitem__("Env", [1]), "bad:env"))],
        1, "json: cannot unmarshal number into Go struct field Config.config.Env of type string"),
    "run a string Entrypoint (one word, not its characters)": (
        lambda s, cli, tmp: (_store_unchecked(s, lambda c: c["config"].update(Entrypoint="/bin/echo hi", Cmd=None),
                                              "string:entrypoint"), ["run", "--rm", "string:entrypoint"])[1],
        127, 'exec: "/bin/echo hi": stat /bin/echo hi: no such file or directory'),
    "COPY of a name written in invalid UTF-8": (
        lambda s, cli, tmp: ["build", str(_context(tmp, b"FROM busybox\nCOPY caf\xe9 /d/\n", {b"caf\xe9": b"x"}))],
        1, 'failed to compute cache key: "/caf\ufffd": not found'),
    "a cycle of COPY --from": (
        lambda s, cli, tmp: ["build", str(_context(
            tmp, b"FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n"))],
        1, "ERROR: failed to solve: circular dependency detected on stage: a"),
    "a stage that copies from itself": (
        lambda s, cli, tmp: ["build", str(_context(tmp, b"FROM busybox\nCOPY --from=0 /x /x\n"))],
        1, "ERROR: failed to solve: circular dependency detected on stage: stage-0"),
    "FROM --platform with an unknown single name": (
        lambda s, cli, tmp: ["build", str(_context(tmp, b"FROM --platform=zzz busybox\n"))],
        1, 'failed to parse platform zzz: "zzz": unknown operating system or architecture: invalid argument'),
    "FROM --platform with no image for it": (
        lambda s, cli, tmp: (cli("tag", "busybox", "127.0.0.1:9/busybox", check=True),
                             ["build", str(_context(tmp, b"FROM --platform=zzz/yyy 127.0.0.1:9/busybox\nRUN true\n"))]
                             )[1],
        1, "failed to resolve source metadata for 127.0.0.1:9/busybox:latest"),
    "ONBUILD chained thousands deep": (
        lambda s, cli, tmp: ["build", str(_context(tmp, b"FROM busybox\n" + b"ONBUILD " * 3000 + b"RUN true\n"))],
        1, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    "EXPOSE of a range past the last port": (
        lambda s, cli, tmp: ["build", str(_context(tmp, b"FROM busybox\nEXPOSE 1-99999999999\n"))],
        1, "invalid containerPort: 1-99999999999"),
    "--tmpfs with a size that is no size": (
        lambda s, cli, tmp: ["run", "--rm", "--tmpfs", "/x:size=abc", "busybox", "true"],
        125, 'error mounting "tmpfs" to rootfs at "/x": mount tmpfs:/x, flags: 0xe, data: size=abc: invalid argument'),
    "--tmpfs with an option Docker does not know": (
        lambda s, cli, tmp: ["run", "--rm", "--tmpfs", "/x:bogus", "busybox", "true"],
        125, 'invalid tmpfs option ["bogus"]'),
    "import of empty stdin": (lambda s, cli, tmp: ["import", "-", "empty:1"], 1, "invalid archive: empty input"),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_input_gets_one_line_and_dockers_exit_code(busybox_store: Store, cli: CLI, tmp_path: Path,
                                                        name: str) -> None:
    setup, code, fragment = CASES[name]
    args = setup(busybox_store, cli, tmp_path)
    images = sorted(i.id for i in busybox_store.images.all())
    result = cli(*args)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith(("Error", "ERROR"))]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    if args[0] in ("load", "import"):
        assert sorted(i.id for i in busybox_store.images.all()) == images  # no image from it


def test_a_string_entrypoint_is_one_argument(busybox_store: Store, cli: CLI) -> None:
    _store_unchecked(busybox_store, lambda c: c["config"].update(Entrypoint="/bin/echo", Cmd="two words"), "str:1")
    result = cli("run", "--rm", "str:1")
    assert result.returncode == 0 and result.stdout == "two words\n", result.stderr
    shown = json.loads(cli("inspect", "-f", "{{json .Config.Entrypoint}}", "str:1", check=True).stdout)
    assert shown == ["/bin/echo"]


def test_a_dockerfile_in_invalid_utf8_builds_with_replacement_characters(busybox_store: Store, cli: CLI,
                                                                          tmp_path: Path) -> None:
    ctx = _context(tmp_path, b"FROM busybox\n# caf\xe9\nENV A=caf\xe9\nRUN echo caf\xe9 > /f\n")
    built = cli("build", "-q", "-t", "latin1", str(ctx), check=True)
    assert "Traceback" not in built.stderr
    env = json.loads(cli("inspect", "-f", "{{json .Config.Env}}", "latin1", check=True).stdout)
    assert env[-1] == "A=caf\ufffd"  # as BuildKit: each byte that is not UTF-8 reads as U+FFFD
    assert cli("run", "--rm", "latin1", "cat", "/f", check=True).stdout == "caf\ufffd\n"


def test_copy_of_names_that_are_not_utf8_keeps_their_bytes(busybox_store: Store, cli: CLI, tmp_path: Path) -> None:
    ctx = _context(tmp_path, b'FROM busybox\nCOPY . /all/\nCOPY caf* /glob/\nCOPY ["caf*", "/json/"]\n',
                   {b"caf\xe9": b"latin-1 name\n"})
    result = cli("build", "-q", "-t", "names", str(ctx))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    image = busybox_store.resolve_image("names")
    names: set[bytes] = set()
    for layer in image.layers[-3:]:
        with tarfile.open(fileobj=io.BytesIO(busybox_store.blobs.read(layer["digest"])),
                          encoding="utf-8", errors="surrogateescape") as tar:
            names |= {m.name.encode("utf-8", "surrogateescape") for m in tar.getmembers() if m.isfile()}
    assert {b"all/caf\xe9", b"glob/caf\xe9", b"json/caf\xe9"} <= names
    listed = cli("run", "--rm", "names", "sh", "-c", "cat /all/caf* /glob/caf* /json/caf*", check=True)
    assert listed.stdout == "latin-1 name\n" * 3


def test_nested_defaults_thousands_deep_expand(busybox_store: Store, cli: CLI, tmp_path: Path) -> None:
    ctx = _context(tmp_path, f"FROM busybox\nARG a\nENV X={DEEP}\n".encode())
    cli("build", "-q", "-t", "deep", str(ctx), check=True)
    env = json.loads(cli("inspect", "-f", "{{json .Config.Env}}", "deep", check=True).stdout)
    assert env[-1] == "X=deep"  # as BuildKit expands it
