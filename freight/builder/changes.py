"""Config instructions (CMD, ENV, EXPOSE, ...) applied to an image config.

Shared by ``freight import --change`` / ``commit --change`` and the builder,
so an instruction lands in the config exactly the same way on every path.
``config`` is the ``config`` object of an OCI image config (``Env``,
``Cmd``, ``Entrypoint``, ``ExposedPorts``, ...).
"""

from __future__ import annotations

import posixpath

from freight.builder.dockerfile.arguments import healthcheck
from freight.builder.dockerfile.expansion import expand_instruction
from freight.builder.dockerfile.instructions import Instruction
from freight.builder.dockerfile.parser import parse_instructions
from freight.errors import InvalidArgument

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

DEFAULT_SHELL = ["/bin/sh", "-c"]
IMPORT_CHANGES = frozenset({"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD",
                            "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"})


def env_map(config: dict[str, Any]) -> dict[str, str]:
    return dict(e.partition("=")[::2] for e in config.get("Env") or [])


class ConfigEnv:
    """A config's ``Env`` list indexed by name, for setting variables in constant time.

    ``set`` replaces a variable where it stands or appends a new one, as BuildKit's
    ``addEnv`` does (``ENV PATH=/x:$PATH`` keeps PATH first); ``values`` maps each name to
    its value. A build keeps one per stage, so 10,000 ENV lines cost linear time.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.index: dict[str, int] = {}
        self.values: dict[str, str] = {}
        for i, entry in enumerate(config.get("Env") or []):
            key, _, value = entry.partition("=")
            self.index.setdefault(key, i)
            self.values[key] = value

    def set(self, key: str, value: str) -> None:
        entries = self.config.get("Env")
        if entries is None:
            entries = self.config["Env"] = []
        where = self.index.get(key)
        if where is None:
            self.index[key] = len(entries)
            entries.append(f"{key}={value}")
        else:
            entries[where] = f"{key}={value}"
        self.values[key] = value


def _command(config: dict[str, Any], instr: Instruction) -> list[str]:
    line = instr.command()
    if line.prepend_shell:
        return list(config.get("Shell") or DEFAULT_SHELL) + line.args
    return line.args


def _port_number(text: str) -> int | None:
    """Go's ``strconv.ParseUint(text, 10, 16)``, None where it fails."""
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > 5 or int(text) > 65535:
        return None
    return int(text)


def _ports(config: dict[str, Any], instr: Instruction) -> None:
    ports = _mapping(config, "ExposedPorts")
    for spec in instr.ports():
        number, _, proto = spec.partition("/")
        first, dash, last = number.partition("-")
        start, end = _port_number(first), _port_number(last if dash else first)
        if start is None or end is None or end < start:  # nat.ParsePortRange's refusals
            raise instr.error(f"invalid containerPort: {number}")
        for port in range(start, end + 1):
            ports[f"{port}/{(proto or 'tcp').lower()}"] = {}


def _workdir(config: dict[str, Any], instr: Instruction) -> None:
    current = config.get("WorkingDir") or "/"
    config["WorkingDir"] = posixpath.normpath(posixpath.join(current, instr.args[0]))


def _healthcheck(config: dict[str, Any], instr: Instruction) -> None:
    check = healthcheck(instr)
    value: dict[str, Any] = {"Test": check.test}
    for key, number in (("Interval", check.interval), ("Timeout", check.timeout),
                        ("StartPeriod", check.start_period), ("StartInterval", check.start_interval),
                        ("Retries", check.retries)):
        if number:
            value[key] = number
    config["Healthcheck"] = value


def _mapping(config: dict[str, Any], key: str) -> dict[str, Any]:
    """The config's object at ``key``, created when missing, to update in place."""
    value = config.get(key)
    if value is None:
        value = config[key] = {}
    return value


def _labels(config: dict[str, Any], instr: Instruction) -> None:
    _mapping(config, "Labels").update(instr.key_values())


def _volumes(config: dict[str, Any], instr: Instruction) -> None:
    _mapping(config, "Volumes").update(dict.fromkeys(instr.args, {}))


def _onbuild(config: dict[str, Any], instr: Instruction) -> None:
    triggers = config.get("OnBuild")
    if triggers is None:
        triggers = config["OnBuild"] = []
    triggers.append(instr.onbuild_expression())


_APPLY: dict[str, Callable[[dict[str, Any], Instruction], None]] = {
    "CMD": lambda c, i: c.__setitem__("Cmd", _command(c, i)),
    "ENTRYPOINT": lambda c, i: c.__setitem__("Entrypoint", _command(c, i) or None),
    "LABEL": _labels,
    "EXPOSE": _ports,
    "USER": lambda c, i: c.__setitem__("User", i.args[0]),
    "VOLUME": _volumes,
    "WORKDIR": _workdir,
    "STOPSIGNAL": lambda c, i: c.__setitem__("StopSignal", i.args[0]),
    "SHELL": lambda c, i: c.__setitem__("Shell", i.shell()),
    "ONBUILD": _onbuild,
    "HEALTHCHECK": _healthcheck,
}


def apply_instruction(config: dict[str, Any], instr: Instruction, env: Mapping[str, str] | None = None,
                      escape: str = "\\") -> None:
    """Apply one config instruction, expanding variables from ``env`` (default: the config's Env)."""
    apply_expanded(config, expand_instruction(instr, env if env is not None else env_map(config), escape))


def apply_expanded(config: dict[str, Any], instr: Instruction, config_env: ConfigEnv | None = None) -> None:
    """Apply one config instruction whose variables are expanded already; ENV goes through
    ``config_env`` (the config's own ConfigEnv) when given. Objects and lists in the config
    (Labels, Volumes, ExposedPorts, OnBuild, Env) are updated in place."""
    if instr.keyword == "ENV":
        target = ConfigEnv(config) if config_env is None else config_env
        for key, value in instr.key_values():
            target.set(key, value)
    else:
        _APPLY[instr.keyword](config, instr)


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """``--change`` values applied in order, as ``docker import`` does."""
    for text in changes:
        for instr in parse_instructions(text, "--change"):
            if instr.keyword not in IMPORT_CHANGES:
                raise InvalidArgument(f"{instr.keyword.lower()} is not a valid change command")
            apply_instruction(config, instr)
    return config
