"""Property-based: whatever text the Dockerfile parser, the reference parser and the
image-config reader are given, they answer or fail with freight's own error type
(FreightError: one line, Docker's exit code), never another exception."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from freight.builder.changes import IMPORT_CHANGES, apply_expanded
from freight.builder.dockerfile.arguments import healthcheck, run_mounts
from freight.builder.dockerfile.expansion import expand_instruction
from freight.builder.dockerfile.parser import StageGraph, parse, parse_instructions
from freight.errors import FreightError
from freight.image.reference import parse as parse_reference
from freight.image.schema import read_config
from tests.builder.buildutil import all_instructions

_KEYWORDS = ["FROM", "RUN", "CMD", "ENTRYPOINT", "ENV", "LABEL", "ARG", "COPY", "ADD", "EXPOSE", "VOLUME", "USER",
             "WORKDIR", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "ONBUILD", "MAINTAINER", "from", "Bogus"]
_PIECES = ["--from=a", "--mount=type=bind,target=/m", "--mount=type=cache,id=x,mode=0777", "--platform=$P",
           "--chown=1:1", "--chmod=755", "--interval=1s", "--retries=3", "--network=none", "--link", "--", "AS b",
           "a=b", "a=\"b c\"", "$a", "${a}", "${a:-b}", "${a#*}", "${a/x/y}", "${", "}", "'", "\"", "\\", "`",
           "<<EOF", "<<-'EOF'", "EOF", "[", "]", "[\"a\", \"b\"]", "\\\n", "#", "# escape=`", "# syntax=x", "=",
           "*", "?", "scratch", "busybox", "0", "/", ".", "NONE", "CMD", "\t", " "]
_WORD = st.one_of(st.sampled_from(_PIECES), st.text(max_size=6))
_LINE = st.builds(lambda k, words: " ".join([k, *words]), st.sampled_from(_KEYWORDS), st.lists(_WORD, max_size=6))
_DOCKERFILE = st.one_of(
    st.lists(st.one_of(_LINE, st.sampled_from(_PIECES), st.text(max_size=20)), max_size=8).map("\n".join),
    st.text(max_size=200),
)
_ENV = {"a": "x y", "P": "linux/amd64", "b": ""}


def _use(text: str) -> None:
    """Parse as a build does and take every view of each instruction the engine takes."""
    df = parse(text)
    StageGraph(df, _ENV).cycle_start()
    config: dict[str, object] = {}
    for instr in all_instructions(df):
        expanded = expand_instruction(instr, _ENV, df.escape)
        if instr.keyword in IMPORT_CHANGES:  # the config instructions, as a build applies them
            apply_expanded(config, expanded)
        elif instr.keyword in ("COPY", "ADD"):
            expanded.copy_spec()
        elif instr.keyword == "RUN":
            expanded.command().script()
            run_mounts(instr, _ENV, df.escape)
        elif instr.keyword == "HEALTHCHECK" and instr.args:
            healthcheck(instr)
        elif instr.keyword == "ONBUILD" and instr.args:
            parse_instructions(instr.onbuild_expression())


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_DOCKERFILE)
@example("FROM x\n" + "ONBUILD " * 3000 + "RUN x\n")
@example("FROM x\nCMD " + "[" * 100_000 + "]" * 100_000 + "\n")
@example("FROM x\nENV a=" + "${a:-" * 5000 + "d" + "}" * 5000 + "\n")
@example("FROM x\nHEALTHCHECK --retries=" + "9" * 5000 + " CMD x\n")
@example("FROM x\nHEALTHCHECK --interval=" + "9" * 5000 + "s CMD x\n")
@example("FROM x\nHEALTHCHECK --interval=0." + "9" * 5000 + "s CMD x\n")
@example("FROM x\nRUN --mount=type=tmpfs,target=/t,size=" + "9" * 400 + "g x\n")
@example("FROM x\nRUN --mount=type=cache,target=/t,uid=" + "9" * 5000 + " x\n")
@example("FROM x\nCOPY " + "9" * 5000 + "<<EOF /x\nEOF\n")
@example("FROM x\nCOPY --from=" + "9" * 5000 + " a /b\n")
@example("FROM x\nEXPOSE 1-99999999999\n")
@example("FROM x\nEXPOSE \u00b2\n")
def test_the_dockerfile_parser_raises_only_freights_errors(text: str) -> None:
    try:
        _use(text)
    except FreightError:
        pass


@given(st.text(max_size=80))
def test_the_reference_parser_raises_only_freights_errors(text: str) -> None:
    try:
        parse_reference(text)
    except FreightError:
        pass


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=10,
)
_FIELDS = ["config", "Cmd", "Entrypoint", "Env", "Labels", "ExposedPorts", "Volumes", "Healthcheck", "Interval",
           "Test", "Retries", "Shell", "OnBuild", "StopTimeout", "rootfs", "diff_ids", "history", "created",
           "empty_layer", "architecture", "os", "container_config", "Size"]


@st.composite
def _configs(draw: st.DrawFn) -> bytes:
    """Image configs with Docker's field names holding any JSON, and random bytes."""
    def value(depth: int) -> object:
        if depth and draw(st.booleans()):
            return {draw(st.sampled_from(_FIELDS)): value(depth - 1) for _ in range(draw(st.integers(0, 3)))}
        return draw(_JSON)
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=64))
    return json.dumps(value(3)).encode()


@given(_configs())
@example(b"[" * 100_000 + b"]" * 100_000)
@example(b'{"config": {"Cmd": 42}}')
@example(b"\xff\xfe{")
def test_the_image_config_reader_raises_only_freights_errors(data: bytes) -> None:
    try:
        config = read_config(data)
    except FreightError:
        return
    assert isinstance(config, dict)
    inner = config.get("config")
    for key in ("Cmd", "Entrypoint", "Shell"):
        if isinstance(inner, dict) and inner.get(key) is not None:
            assert isinstance(inner[key], list)
