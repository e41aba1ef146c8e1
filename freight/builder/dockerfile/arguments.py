"""What each instruction accepts: flags, argument counts and values (BuildKit's
``instructions`` package).

``instruction(node, filename)`` validates a lexed ``Node`` into an
``Instruction`` in BuildKit's order (a check of the arguments, the flags, a
check that reads the flags) and raises ``DockerfileError`` at its line.
``run_mounts(instr, env, escape)`` reads RUN ``--mount`` values (``parse_mount``:
BuildKit's CSV syntax) and ``healthcheck(instr)`` the HEALTHCHECK settings
(``parse_duration``: Go's ``time.ParseDuration``), for validation and for the engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from freight.builder.dockerfile.instructions import (
    Healthcheck,
    Instruction,
    InstructionError,
    Mount,
    heredoc_word,
)
from freight.builder.dockerfile.lexer import ONBUILD_CHAIN, Node
from freight.builder.dockerfile.shellwords import ExpansionError, expand_word, go_quote
from freight.record import replace

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
_BOOL, _STRING, _STRINGS = "bool", "string", "strings"

_FLAG_SPECS: dict[str, dict[str, str]] = {
    "ADD": {"exclude": _STRINGS, "chown": _STRING, "chmod": _STRING, "link": _BOOL,
            "keep-git-dir": _BOOL, "checksum": _STRING, "unpack": _BOOL},
    "COPY": {"exclude": _STRINGS, "parents": _BOOL, "chown": _STRING, "from": _STRING,
             "chmod": _STRING, "link": _BOOL},
    "FROM": {"platform": _STRING},
    "RUN": {"mount": _STRINGS, "network": _STRING, "security": _STRING},
    "HEALTHCHECK": {"interval": _STRING, "timeout": _STRING, "start-period": _STRING,
                    "start-interval": _STRING, "retries": _STRING},
}
# BuildKit never looks at the flags of these, so it ignores them silently.
_FLAGS_IGNORED = frozenset({"STOPSIGNAL"})


def _parse_flags(raw: list[str], spec: Mapping[str, str]) -> dict[str, list[str]]:
    """BuildKit's BFlags.Parse: validate ``--name[=value]`` words."""
    values: dict[str, list[str]] = {}
    for word in raw:
        if not word.startswith("--"):
            raise InstructionError(f"arg should start with -- : {word}")
        if word == "--":
            break
        name, eq, value = word[2:].partition("=")
        kind = spec.get(name)
        if kind is None:
            raise InstructionError(f"unknown flag: {name}")
        if name in values and kind != _STRINGS:
            raise InstructionError(f"duplicate flag specified: {name}")
        if kind == _BOOL:
            if eq and value == "":
                raise InstructionError(f"missing a value on flag: {name}")
            lower = value.lower()
            if lower not in ("", "true", "false"):
                raise InstructionError(f"expecting boolean value for flag {name}, not: {value}")
            values[name] = [lower or "true"]
        elif not eq:
            raise InstructionError(f"missing a value on flag: {name}")
        else:
            values.setdefault(name, []).append(value)
    return values


# --------------------------------------------------------------------------
# Validation of each instruction (BuildKit's instructions package)


def _exactly_one(instr: Instruction) -> None:
    if len(instr.args) != 1:
        raise InstructionError(f"{instr.keyword} requires exactly one argument")


def _at_least_one(instr: Instruction) -> None:
    if not instr.args:
        raise InstructionError(f"{instr.keyword} requires at least one argument")


def _check_kvps(instr: Instruction) -> None:
    _at_least_one(instr)
    if any(key == "" for key in instr.args[::2]):
        raise InstructionError(f"{instr.keyword} names can not be blank")


def _check_copy(instr: Instruction) -> None:
    if len(instr.args) < 2:
        raise InstructionError(
            f"{instr.keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined"
        )


def _check_copy_dest(instr: Instruction) -> None:
    if heredoc_word(instr.args[-1]) is not None:
        raise InstructionError(f"{instr.keyword} cannot accept a heredoc as a destination")


def _check_from(instr: Instruction) -> None:
    args = instr.args
    if len(args) == 3 and args[1].lower() == "as":
        if not _STAGE_NAME.match(args[2].lower()):
            raise InstructionError(
                f"invalid name for build stage: {go_quote(args[2])}, "
                "name can't start with a number or contain symbols"
            )
    elif len(args) != 1:
        raise InstructionError("FROM requires either one or three arguments")


def _check_onbuild(instr: Instruction) -> None:
    _at_least_one(instr)
    trigger = instr.args[0].strip().upper()
    if trigger == "ONBUILD":
        raise InstructionError(ONBUILD_CHAIN)
    if trigger in ("MAINTAINER", "FROM"):
        raise InstructionError(f"{trigger} isn't allowed as an ONBUILD trigger")


def _check_run(instr: Instruction) -> None:
    if not instr.args and not instr.json_form:
        raise InstructionError("RUN requires at least one argument")
    for value in instr.flags.get("mount", []):
        parse_mount(value)
    network = instr.flag("network", "default")
    if network not in ("default", "none", "host"):
        raise InstructionError(f"unsupported network mode {go_quote(network)}")
    security = instr.flag("security", "sandbox")
    if security not in ("sandbox", "insecure"):
        raise InstructionError(f"unsupported security mode {go_quote(security)}")


def _check_volume(instr: Instruction) -> None:
    _at_least_one(instr)
    if any(not v.strip() for v in instr.args):
        raise InstructionError("VOLUME specified can not be an empty string")


def _check_arg(instr: Instruction) -> None:
    _at_least_one(instr)
    if any(key == "" for key, _ in instr.arg_pairs()):
        raise InstructionError("ARG names can not be blank")


def _check_shell(instr: Instruction) -> None:
    if instr.args and not instr.json_form:
        raise InstructionError("SHELL requires the arguments to be in JSON form")
    _at_least_one(instr)


def _check_healthcheck(instr: Instruction) -> None:
    _at_least_one(instr)
    _healthcheck(instr)


# Per keyword: a check before the flags are parsed and one after (BuildKit's order).
_CHECKS = {
    "ADD": (_check_copy, _check_copy_dest),
    "COPY": (_check_copy, _check_copy_dest),
    "ARG": (None, _check_arg),
    "CMD": (None, None),
    "ENTRYPOINT": (None, None),
    "ENV": (None, _check_kvps),
    "LABEL": (None, _check_kvps),
    "EXPOSE": (_at_least_one, None),
    "FROM": (_check_from, None),
    "HEALTHCHECK": (_at_least_one, _check_healthcheck),
    "MAINTAINER": (_exactly_one, None),
    "ONBUILD": (_check_onbuild, None),
    "RUN": (None, _check_run),
    "SHELL": (None, _check_shell),
    "STOPSIGNAL": (_exactly_one, None),
    "USER": (_exactly_one, None),
    "VOLUME": (None, _check_volume),
    "WORKDIR": (_exactly_one, None),
}


def instruction(node: Node, filename: str) -> Instruction:
    """Validate a node into an Instruction (BuildKit's ParseInstruction)."""
    keyword = node.keyword.upper()
    args = [v.strip() for v in node.args] if keyword == "VOLUME" else list(node.args)  # as BuildKit keeps them
    instr = Instruction(
        keyword=keyword, line=node.line, end_line=node.end_line, original=node.original,
        args=args, raw_flags=list(node.raw_flags), json_form=node.json_form,
        heredocs=list(node.heredocs), filename=filename,
    )
    if not node.keyword:
        raise instr.error("unexpected end of file after a line continuation")
    if keyword not in _CHECKS:
        raise instr.error(f"unknown instruction: {keyword}")
    before, after = _CHECKS[keyword]
    try:
        if before:
            before(instr)
        if keyword not in _FLAGS_IGNORED and not _healthcheck_none(instr):
            instr = replace(instr, flags=_parse_flags(node.raw_flags, _FLAG_SPECS.get(keyword, {})))
        if after:
            after(instr)
    except (InstructionError, ExpansionError) as err:
        raise instr.error(str(err)) from None
    if node.child is not None:
        instr = replace(instr, trigger=_structural(node.child, node, filename))
    return instr


def _healthcheck_none(instr: Instruction) -> bool:
    return instr.keyword == "HEALTHCHECK" and bool(instr.args) and instr.args[0].upper() == "NONE"


def _structural(child: Node, parent: Node, filename: str) -> Instruction:
    """The instruction an ONBUILD wraps; it is validated only when triggered."""
    return Instruction(
        keyword=child.keyword.upper(), line=parent.line, end_line=parent.end_line,
        original=child.original, args=list(child.args), raw_flags=list(child.raw_flags),
        json_form=child.json_form, heredocs=list(parent.heredocs), filename=filename,
    )


# --------------------------------------------------------------------------
# HEALTHCHECK, durations, mounts

_DURATION_UNITS = {
    "ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
    "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
}
_DURATION_PART = r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)"  # compiled on first use


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` in nanoseconds (``1m30s``, ``1.5h``, ``250ms``)."""
    bad = InstructionError(f"time: invalid duration {go_quote(text)}")
    s = text
    sign = -1 if s.startswith("-") else 1
    s = s[1:] if s[:1] in ("-", "+") else s
    if s == "0":
        return 0
    if not s:
        raise bad
    total = 0
    while s:
        match = re.match(_DURATION_PART, s)
        assert match is not None  # every part of the pattern may be empty
        whole, frac, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not frac:
            raise bad
        if not unit:
            raise InstructionError(f"time: missing unit in duration {go_quote(text)}")
        if unit not in _DURATION_UNITS:
            raise InstructionError(f"time: unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        scale = _DURATION_UNITS[unit]
        if len(whole.lstrip("0")) > 19:  # past Go's int64 nanoseconds
            raise bad
        total += int(whole or 0) * scale
        if frac:
            frac = frac[:20]  # digits below a nanosecond's scale change nothing
            total += int(frac) * scale // 10 ** len(frac)
        if total >= 1 << 63:
            raise bad
        s = s[match.end():]
    return sign * total


def _interval(instr: Instruction, name: str) -> int:
    value = instr.flag(name)
    if not value:
        return 0
    duration = parse_duration(value)
    if duration == 0:
        return 0
    if duration < 1_000_000:
        raise InstructionError(f"Interval {go_quote(name)} cannot be less than 1ms")
    return duration


def healthcheck(instr: Instruction) -> Healthcheck:
    """HEALTHCHECK settings; ``test`` is ``["NONE"]``, ``["CMD", ...]`` or ``["CMD-SHELL", cmd]``."""
    try:
        return _healthcheck(instr)
    except InstructionError as err:
        raise instr.error(str(err)) from None


def _healthcheck(instr: Instruction) -> Healthcheck:
    kind = instr.args[0].upper()
    rest = instr.args[1:]
    if kind == "NONE":
        if rest:
            raise InstructionError("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(test=["NONE"])
    if kind != "CMD":
        raise InstructionError(f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)")
    if not rest:
        raise InstructionError("Missing command after HEALTHCHECK CMD")
    test = ["CMD", *rest] if instr.json_form else ["CMD-SHELL", " ".join(rest)]
    retries = 0
    if instr.flag("retries"):
        value = instr.flag("retries")
        if not re.fullmatch(r"[+-]?[0-9]+", value):
            raise InstructionError(f"strconv.ParseInt: parsing {go_quote(value)}: invalid syntax")
        if len(value.lstrip("+-").lstrip("0")) > 19 or not -(1 << 63) <= int(value) < 1 << 63:
            raise InstructionError(f"strconv.ParseInt: parsing {go_quote(value)}: value out of range")
        retries = int(value)
        if retries < 0:
            raise InstructionError(f"--retries cannot be negative ({retries})")
    return Healthcheck(
        test=test, interval=_interval(instr, "interval"), timeout=_interval(instr, "timeout"),
        start_period=_interval(instr, "start-period"),
        start_interval=_interval(instr, "start-interval"), retries=retries,
    )


_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _go_bool(value: str) -> bool:
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise InstructionError(f"strconv.ParseBool: parsing {go_quote(value)}: invalid syntax")


def _ram_bytes(value: str) -> int:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtTpP]?)[iI]?[bB]?", value.strip())
    if not match:
        raise InstructionError(f"invalid size: {go_quote(value)}")
    size = float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
    if size >= 1 << 63:  # Go's int64 (float('inf') for a number past a float's range)
        raise InstructionError(f"strconv.ParseFloat: parsing {go_quote(match.group(1))}: value out of range")
    return int(size)


def _mount_number(value: str, base: int, key: str) -> int:
    try:
        number = int(value, base)
    except ValueError:
        number = -1
    if number < 0 or number >= 1 << 32:
        message = f"invalid value {value} for mode" if key == "mode" else f"invalid value for {key}: {value}"
        raise InstructionError(message)
    return number


def parse_mount(value: str, env: Mapping[str, str] | None = None, escape: str = "\\") -> Mount:
    """Parse one ``--mount`` value (CSV ``key=value`` fields), as BuildKit does.

    With ``env`` each field value but ``from`` is expanded first.  Raises
    ``InstructionError`` or ``ExpansionError``; ``run_mounts`` turns
    both into a ``DockerfileError`` at the instruction's line.
    """
    import csv  # 0.6 ms: only Dockerfiles with RUN --mount need it (tests/cli/test_startup_imports.py)

    fields = next(csv.reader([value]), [])
    opts: dict[str, Any] = {"type": "bind"}
    ro_auto = True
    for item in fields:
        key, eq, val = item.partition("=")
        key = key.lower()
        if not eq:
            ro_auto = _mount_switch(opts, key, item) and ro_auto
            continue
        if env is not None and key != "from":
            val = expand_word(val, env, escape)
        ro_auto = _mount_field(opts, key, val, item) and ro_auto
    return _finish_mount(opts, ro_auto)


def _mount_switch(opts: dict[str, Any], key: str, item: str) -> bool:
    """A field without ``=``; returns whether read-only is still automatic."""
    if key in ("readonly", "ro", "readwrite", "rw"):
        opts["readonly"] = key in ("readonly", "ro")
        return False
    if key == "required" and opts["type"] in ("secret", "ssh"):
        opts["required"] = True
        return True
    if key == "required":
        raise InstructionError(f"unexpected key '{key}' for mount type '{opts['type']}'")
    raise InstructionError(f"invalid field '{item}' must be a key=value pair")


def _mount_field(opts: dict[str, Any], key: str, val: str, item: str) -> bool:
    """A ``key=value`` field; returns whether read-only is still automatic."""
    simple = {"from": "from_", "source": "source", "src": "source", "target": "target",
              "dst": "target", "destination": "target", "id": "id", "env": "env"}
    if key in simple:
        opts[simple[key]] = val
    elif key == "type":
        if val.lower() not in _MOUNT_TYPES:
            raise InstructionError(f"unsupported mount type {go_quote(val)}")
        opts["type"] = val.lower()
    elif key in ("readonly", "ro", "readwrite", "rw"):
        flag = _go_bool(val)
        opts["readonly"] = flag if key in ("readonly", "ro") else not flag
        return False
    elif key == "required" and opts["type"] in ("secret", "ssh"):
        opts["required"] = _go_bool(val)
    elif key == "sharing":
        if val and val.lower() not in ("shared", "private", "locked"):
            raise InstructionError(f"unsupported sharing value {go_quote(val)}")
        opts["sharing"] = val.lower()
    elif key == "mode":
        opts["mode"] = _mount_number(val, 8, key)
    elif key in ("uid", "gid"):
        opts[key] = _mount_number(val, 10, key)
    elif key == "size":
        opts["size"] = _ram_bytes(val)
    else:
        raise InstructionError(f"unexpected key '{key}' in '{item}'")
    return True


def _finish_mount(opts: dict[str, Any], ro_auto: bool) -> Mount:
    kind = opts["type"]
    if kind not in ("cache", "secret", "ssh"):
        for key in ("mode", "uid", "gid"):
            if opts.get(key) is not None:
                raise InstructionError(f"{key} not allowed for {go_quote(str(kind))} type mounts")
    if ro_auto:
        opts["readonly"] = kind not in ("cache", "tmpfs")
    if opts.get("sharing") and kind != "cache":
        raise InstructionError(f"invalid cache sharing set for {kind} mount")
    if kind == "secret":
        if opts.get("from_"):
            raise InstructionError("secret mount should not have a from")
        if not (opts.get("source") or opts.get("target") or opts.get("id")):
            raise InstructionError("invalid secret mount. one of source, target required")
        if opts.get("source") and opts.get("id"):
            raise InstructionError("both source and id can't be set")
    return Mount(**opts)


def run_mounts(instr: Instruction, env: Mapping[str, str] | None = None, escape: str = "\\") -> list[Mount]:
    """RUN ``--mount`` values, each field value expanded with ``env`` if given."""
    try:
        return [parse_mount(value, env, escape) for value in instr.flags.get("mount", [])]
    except (InstructionError, ExpansionError) as err:
        raise instr.error(str(err)) from None
