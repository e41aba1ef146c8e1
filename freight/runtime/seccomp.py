"""Seccomp profiles: Docker's format in, the OCI runtime-spec's ``linux.seccomp`` out.

A profile in Docker's format (``--security-opt seccomp=PATH``, and the default
one, ``seccomp_default.json`` beside this module, which holds the rules of moby's
``profiles/seccomp/default.json``) lists its architectures by machine
(``archMap``) and makes rules depend on the container's capabilities, the
machine's architecture and the kernel's version (``includes``/``excludes``).
``to_oci`` resolves those for one container, as moby's ``setupSeccomp`` does, and
checks every field on the way, so a bad profile is refused when the container is
created. What it returns is a plain JSON-able dict in the runtime-spec's schema,
the form an OCI runtime takes unchanged; the container's child process turns it
into a kernel filter (``freight.runtime.seccomp_filter``).
"""

from __future__ import annotations

import json
import os

from freight.errors import InvalidArgument

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PROFILE = os.path.join(os.path.dirname(__file__), "seccomp_default.json")
UNCONFINED = "unconfined"
BUILTIN = "builtin"

ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG")
OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
             "SCMP_CMP_MASKED_EQ")
FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
ARCHITECTURES = ("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
                 "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
                 "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
                 "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
                 "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64")
# ``uname -m`` -> (the name a profile's "arches" use, libseccomp's; the runtime-spec's architecture)
_MACHINES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"), "i386": ("x86", "SCMP_ARCH_X86"),
    "i686": ("x86", "SCMP_ARCH_X86"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"), "armv6l": ("arm", "SCMP_ARCH_ARM"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"), "ppc64": ("ppc64", "SCMP_ARCH_PPC64"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"), "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
    "mips64": ("mips64", "SCMP_ARCH_MIPS64"), "loongarch64": ("loongarch64", "SCMP_ARCH_LOONGARCH64"),
}


class ProfileError(InvalidArgument):
    """A seccomp profile that cannot be used (Docker's "Decoding seccomp profile failed")."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"Decoding seccomp profile failed: {where}: {problem}")


def read_profile(path: str) -> str:
    """A profile file's JSON, compacted, as Docker's client sends it in ``SecurityOpt``."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise InvalidArgument(f"opening seccomp profile ({path}) failed: "
                              f"open {path}: {(err.strerror or str(err)).lower()}") from None
    try:
        return json.dumps(json.loads(data), separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError) as err:
        raise InvalidArgument(f"compacting json for seccomp profile ({path}) failed: {err}") from None


def container_profile(value: str | None, privileged: bool, caps: list[str]) -> dict[str, Any] | None:
    """The ``linux.seccomp`` of a container; None when it runs unconfined.

    ``value`` is its ``seccomp=`` security option (None when it has none). As with
    Docker, ``--privileged`` runs unconfined unless a profile of its own is given.
    """
    if value == UNCONFINED or (privileged and value in (None, BUILTIN)):
        return None
    if value in (None, BUILTIN):
        return default_profile(caps)
    try:
        profile = json.loads(value)
    except (ValueError, RecursionError) as err:
        raise ProfileError("JSON", str(err)) from None
    return to_oci(profile, caps)


def default_profile(caps: list[str]) -> dict[str, Any]:
    """Docker's default profile for a container with the capabilities ``caps``."""
    with open(DEFAULT_PROFILE, "rb") as f:
        profile = json.load(f)
    oci = to_oci(profile, caps)
    assert oci is not None
    return oci


def machine() -> str:
    return os.uname().machine


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """``6.1.0-18-amd64`` -> (6, 1): the kernel and major revision, as moby compares them."""
    parts = (release or os.uname().release).split(".")
    return int(parts[0]), int("".join(c for c in parts[1].split("-")[0] if c.isdigit()) or 0)


def to_oci(profile: Any, caps: list[str], machine_name: str | None = None,
           kernel: tuple[int, int] | None = None) -> dict[str, Any] | None:
    """Docker's ``profile`` resolved for a container with bounding set ``caps`` on
    ``machine_name`` (``uname -m``) with ``kernel`` (both default to this machine's):
    the runtime-spec's ``linux.seccomp``, or None for a profile with neither a default
    action nor rules (Docker runs those unconfined)."""
    if not isinstance(profile, dict):
        raise ProfileError("profile", "not a JSON object")
    arch, spec_arch = _MACHINES.get(machine_name or machine(), ("", ""))
    kernel = kernel or kernel_version()
    rules = _list(profile, "syscalls", "profile")
    default = profile.get("defaultAction") or ""
    if not default and not rules:
        return None
    oci: dict[str, Any] = {"defaultAction": _choice(default, ACTIONS, "defaultAction")}
    errno = _errno(profile, "defaultErrnoRet", "profile")
    if errno is not None:
        oci["defaultErrnoRet"] = errno
    architectures = _architectures(profile, spec_arch)
    if architectures:
        oci["architectures"] = architectures
    flags = [_choice(f, FLAGS, "flags") for f in _list(profile, "flags", "profile")]
    if flags:
        oci["flags"] = flags
    for key in ("listenerPath", "listenerMetadata"):
        if profile.get(key):
            raise ProfileError(key, "seccomp notification (SCMP_ACT_NOTIFY) is not supported")
    syscalls = []
    for i, rule in enumerate(rules):
        where = f"syscalls[{i}]"
        if not isinstance(rule, dict):
            raise ProfileError(where, "not a JSON object")
        call = _syscall(rule, where)
        if _applies(rule, where, caps, arch, kernel):
            syscalls.append(call)
    if syscalls:
        oci["syscalls"] = syscalls
    return oci


def _architectures(profile: dict[str, Any], spec_arch: str) -> list[str]:
    """``architectures`` as given, or the ``archMap`` entry of this machine with its sub-architectures."""
    listed = _list(profile, "architectures", "profile")
    arch_map = _list(profile, "archMap", "profile")
    if listed and arch_map:
        raise ProfileError("profile", "both 'architectures' and 'archMap' are specified in the seccomp "
                           "profile, use either 'architectures' or 'archMap'")
    out = [_choice(a, ARCHITECTURES, "architectures") for a in listed]
    for i, entry in enumerate(arch_map):
        where = f"archMap[{i}]"
        if not isinstance(entry, dict):
            raise ProfileError(where, "not a JSON object")
        main = _choice(entry.get("architecture"), ARCHITECTURES, f"{where}.architecture")
        subs = [_choice(a, ARCHITECTURES, f"{where}.subArchitectures")
                for a in _list(entry, "subArchitectures", where)]
        if main == spec_arch and not out:
            out = [main, *subs]
    return out


def _syscall(rule: dict[str, Any], where: str) -> dict[str, Any]:
    """One rule in the runtime-spec's form: names, action, errnoRet, args."""
    name = rule.get("name")
    names = _list(rule, "names", where)
    if name:
        if names:
            raise ProfileError(where, "both 'name' and 'names' are specified in the seccomp profile, "
                               "use either 'name' or 'names'")
        names = [name]
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ProfileError(f"{where}.names", "a rule needs a list of syscall names")
    call: dict[str, Any] = {"names": list(names),
                            "action": _choice(rule.get("action"), ACTIONS, f"{where}.action")}
    errno = _errno(rule, "errnoRet", where)
    if errno is not None:
        call["errnoRet"] = errno
    args = [_arg(a, f"{where}.args[{j}]") for j, a in enumerate(_list(rule, "args", where))]
    if args:
        call["args"] = args
    return call


def _arg(arg: Any, where: str) -> dict[str, Any]:
    if not isinstance(arg, dict):
        raise ProfileError(where, "not a JSON object")
    index = _uint(arg.get("index", 0), f"{where}.index")
    if index > 5:
        raise ProfileError(f"{where}.index", f"{index} is not an argument index (0 to 5)")
    out: dict[str, Any] = {"index": index, "value": _uint(arg.get("value", 0), f"{where}.value")}
    two = _uint(arg.get("valueTwo", 0), f"{where}.valueTwo")
    if two:
        out["valueTwo"] = two
    out["op"] = _choice(arg.get("op"), OPERATORS, f"{where}.op")
    return out


def _applies(rule: dict[str, Any], where: str, caps: list[str], arch: str, kernel: tuple[int, int]) -> bool:
    """Whether a rule's ``includes`` all hold and none of its ``excludes`` does (moby's order)."""
    excludes = _filter(rule, "excludes", where)
    if excludes is not None:
        if arch in excludes[1] or any(c in caps for c in excludes[0]):
            return False
        if excludes[2] is not None and kernel >= excludes[2]:
            return False
    includes = _filter(rule, "includes", where)
    if includes is not None:
        if includes[1] and arch not in includes[1]:
            return False
        if any(c not in caps for c in includes[0]):
            return False
        if includes[2] is not None and kernel < includes[2]:
            return False
    return True


def _filter(rule: dict[str, Any], key: str, where: str) -> tuple[list[str], list[str], tuple[int, int] | None] | None:
    """A rule's ``includes`` or ``excludes``: (caps, arches, minKernel)."""
    value = rule.get(key)
    if value is None:
        return None
    where = f"{where}.{key}"
    if not isinstance(value, dict):
        raise ProfileError(where, "not a JSON object")
    caps, arches = _list(value, "caps", where), _list(value, "arches", where)
    if not all(isinstance(x, str) for x in [*caps, *arches]):
        raise ProfileError(where, "caps and arches are lists of strings")
    return caps, arches, _min_kernel(value.get("minKernel"), f"{where}.minKernel")


def _min_kernel(value: Any, where: str) -> tuple[int, int] | None:
    if value is None or value == "":
        return None
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 2 or not all(p.isdigit() and int(p) < 256 for p in parts) or parts == ["0", "0"]:
        raise ProfileError(where, f'invalid kernel version: {json.dumps(value)}, expected "<kernel>.<major>"')
    return int(parts[0]), int(parts[1])


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProfileError(f"{where}.{key}", "not a JSON array")
    return value


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise ProfileError(where, f"unknown value {json.dumps(value)}")
    return str(value)


def _uint(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 64:
        raise ProfileError(where, f"{json.dumps(value)} is not an unsigned 64-bit integer")
    return value


def _errno(obj: dict[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    return _uint(value, f"{where}.{key}")
