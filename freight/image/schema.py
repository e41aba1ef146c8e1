"""Reading an image config as Docker reads it into its Go structs.

``read_config(data)`` parses a config blob and checks the type of every field Docker's
``image.Image`` and ``container.Config`` declare, refusing a wrong one with the message
Go's JSON decoder gives (``json: cannot unmarshal number into Go struct field
Config.config.Cmd of type string``: what ``docker load`` says of such a config). A string
where Docker has a ``strslice.StrSlice`` (``Cmd``, ``Entrypoint``, ``Shell``) is a list of
that one string, as Docker reads it; the blob itself is never changed (its digest is the
image ID). Fields Docker does not know are left as they are; ``null`` is always allowed.
"""

from __future__ import annotations

import json

from freight.errors import FreightError

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

# Field kinds: Go's scalar types, lists and maps by their Go names, and the structs below.
STRING, BOOL, INT, DURATION, TIME = "string", "bool", "int", "time.Duration", "time.Time"
STRINGS, STRSLICE, LABELS = "[]string", "strslice.StrSlice", "map[string]string"
PORTS, VOLUMES, DIFF_IDS = "nat.PortSet", "map[string]struct {}", "[]layer.DiffID"
_ITEM_TYPES = {STRINGS: (list, str, "string"), DIFF_IDS: (list, str, "layer.DiffID"),
               LABELS: (dict, str, "string"), PORTS: (dict, dict, "struct {}"), VOLUMES: (dict, dict, "struct {}")}

_STRUCTS: dict[str, dict[str, str]] = {
    "Image": {  # with the fields of the V1Image it embeds
        **dict.fromkeys(("id", "parent", "comment", "container", "docker_version", "author", "architecture",
                         "variant", "os", "os.version"), STRING),
        "created": TIME, "Size": INT, "config": "Config", "container_config": "Config", "os.features": STRINGS,
        "rootfs": "RootFS", "history": "[]History",
    },
    "Config": {
        **dict.fromkeys(("Hostname", "Domainname", "User", "Image", "WorkingDir", "MacAddress", "StopSignal"),
                        STRING),
        **dict.fromkeys(("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce",
                         "ArgsEscaped", "NetworkDisabled"), BOOL),
        **dict.fromkeys(("Cmd", "Entrypoint", "Shell"), STRSLICE),
        "Env": STRINGS, "OnBuild": STRINGS, "Labels": LABELS, "ExposedPorts": PORTS, "Volumes": VOLUMES,
        "StopTimeout": INT, "Healthcheck": "HealthConfig",
    },
    "HealthConfig": {"Test": STRINGS, "Interval": DURATION, "Timeout": DURATION, "StartPeriod": DURATION,
                     "StartInterval": DURATION, "Retries": INT},
    "RootFS": {"type": STRING, "diff_ids": DIFF_IDS},
    "History": {"created": TIME, "author": STRING, "created_by": STRING, "comment": STRING, "empty_layer": BOOL},
}
_STRUCTS["HostConfig"] = {
    **dict.fromkeys(("Binds", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "SecurityOpt"), STRINGS),
    **dict.fromkeys(("CapAdd", "CapDrop"), STRSLICE),
    **dict.fromkeys(("Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuShares", "CpuPeriod", "CpuQuota",
                     "PidsLimit", "ShmSize"), INT),
    **dict.fromkeys(("Privileged", "ReadonlyRootfs", "AutoRemove", "PublishAllPorts", "Init"), BOOL),
    **dict.fromkeys(("NetworkMode", "PidMode", "IpcMode", "UTSMode", "CpusetCpus", "CpusetMems"), STRING),
    "Tmpfs": LABELS,
}
_GO_STRUCT_TYPES = {"Config": "container.Config", "HealthConfig": "container.HealthConfig",
                    "RootFS": "image.RootFS", "History": "image.History", "HostConfig": "container.HostConfig"}


class ConfigError(FreightError):
    """An image config Docker could not read (the command's own failure code: 1 for
    ``load``, 125 for ``run``)."""


def read_config(data: bytes) -> dict[str, Any]:
    """The image config in ``data``, checked and normalised as described above."""
    try:
        config = json.loads(data)
    except (ValueError, RecursionError) as err:  # RecursionError: nested deeper than json reads
        raise ConfigError(f"invalid image config: {err}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"json: cannot unmarshal {_kind(config)} into Go value of type image.Image")
    _check_struct(config, "Image", "")
    return config


def check_create_request(body: dict[str, Any]) -> None:
    """Check the types of a container create request (Docker's ``container.Config`` with its
    ``HostConfig``) as ``read_config`` checks an image's; a string ``Cmd``/``Entrypoint``
    becomes a list of one."""
    _check_struct(body, "Config", "")
    _check_object(body.get("HostConfig"), "HostConfig", "HostConfig", "HostConfig")


def _kind(value: Any) -> str:
    """How Go's decoder names a JSON value in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), "value")


def _mismatch(value: Any, struct: str, path: str, go_type: str) -> ConfigError:
    kind = _kind(value)
    if kind == "number" and go_type in (INT, DURATION):  # a fraction where Go wants an integer
        kind = f"number {value}"
    return ConfigError(f"json: cannot unmarshal {kind} into Go struct field {struct}.{path} of type {go_type}")


def _check_struct(obj: dict[str, Any], struct: str, prefix: str) -> None:
    for key, kind in _STRUCTS[struct].items():
        value = obj.get(key)
        if value is not None:
            _check_field(obj, key, kind, struct, prefix + key)


def _check_field(obj: dict[str, Any], key: str, kind: str, struct: str, path: str) -> None:
    value = obj[key]
    if kind == "[]History":
        if not isinstance(value, list):
            raise _mismatch(value, struct, path, "[]image.History")
        for item in value:
            _check_object(item, "History", struct, path)
    elif kind in _STRUCTS:
        _check_object(value, kind, struct, path)
    elif kind == STRSLICE:
        if isinstance(value, str):
            obj[key] = [value]  # Docker's StrSlice reads a string as a list of one
        elif not (isinstance(value, list) and all(v is None or isinstance(v, str) for v in value)):
            raise _mismatch(value, struct, path, "string")  # the error of its second try, as a string
    elif kind in _ITEM_TYPES:
        container, item_type, item_name = _ITEM_TYPES[kind]
        if not isinstance(value, container):
            raise _mismatch(value, struct, path, kind)
        for item in value.values() if container is dict else value:
            if item is not None and not isinstance(item, item_type):
                raise _mismatch(item, struct, path, item_name)
    elif kind == TIME:
        if not isinstance(value, str):
            raw = json.dumps(value)
            raise ConfigError(f'parsing time "{raw}" as "\\"2006-01-02T15:04:05Z07:00\\"": '
                              f'cannot parse "{raw}" as "\\""')
    elif not (isinstance(value, str) if kind == STRING else isinstance(value, bool) if kind == BOOL
              else isinstance(value, int) and not isinstance(value, bool)):
        raise _mismatch(value, struct, path, kind)


def _check_object(value: Any, name: str, struct: str, path: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _mismatch(value, struct, path, _GO_STRUCT_TYPES[name])
    _check_struct(value, name, path + ".")
