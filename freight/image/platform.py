"""Platforms (``os/arch[/variant]``) as containerd's ``platforms.Parse`` reads them.

``parse(text)`` normalises (``x86_64`` is ``amd64``, ``aarch64`` is ``arm64``, ``armhf`` is
``arm/v7``) and refuses what Docker refuses, with its words: a component with other
characters than letters, digits, ``_``, ``.`` and ``-``, more than three components, or a
single component that is no known operating system or architecture. Two or three
components are taken as they are, known or not (as containerd does): whether an image
exists for them is for the image's source to say. ``matches(config, wanted)`` tells
whether an image config (or an index entry's platform) is for a platform, and
``choose_manifest(index, wanted)`` picks the entry of an image index for one.
"""

from __future__ import annotations

import os
import re

from freight.errors import InvalidArgument, NotFound
from freight.image.mediatypes import INDEXES

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

_KNOWN_OS = frozenset({"aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux",
                       "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos"})
_KNOWN_ARCH = frozenset({"386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le",
                         "loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc",
                         "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm"})
_COMPONENT = r"[A-Za-z0-9_.-]+"
# ``uname -m`` to the architecture (and variant) an image config names
_MACHINE = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64", "i686": "386"}


def host_platform() -> dict[str, str]:
    """The platform of this machine, as an OCI platform dict."""
    machine = os.uname().machine
    plat = {"os": "linux", "architecture": _MACHINE.get(machine, machine)}
    if machine == "armv7l":
        plat["variant"] = "v7"
    return plat


def _invalid(message: str) -> InvalidArgument:
    return InvalidArgument(f"{message}: invalid argument")


def _arch(arch: str, variant: str) -> tuple[str, str]:
    """containerd's normalizeArch."""
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        return "arm64", {"8": "", "v8": "", "v8.0": "", "9": "v9", "9.0": "v9", "v9.0": "v9"}.get(variant, variant)
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        return "arm", {"": "v7", "7": "v7", "5": "v5", "6": "v6", "8": "v8"}.get(variant, variant)
    return arch, variant


def _os(name: str) -> str:
    name = name.lower()
    return "darwin" if name == "macos" else name


def parse(text: str) -> dict[str, str]:
    """``os/arch[/variant]`` (or one known OS or architecture) as an OCI platform dict."""
    if "*" in text:
        raise _invalid(f"\"{text}\": wildcards not yet supported")
    parts = text.split("/")
    for part in parts:
        if not re.fullmatch(_COMPONENT, part, re.ASCII):
            raise _invalid(f"\"{part}\" is an invalid component of \"{text}\": platform specifier component "
                           f"must match \"^{_COMPONENT}$\"")
    if len(parts) == 1:
        host = host_platform()
        if _os(parts[0]) in _KNOWN_OS:
            return {**host, "os": _os(parts[0])}
        arch, variant = _arch(parts[0], "")
        if arch not in _KNOWN_ARCH:
            raise _invalid(f"\"{text}\": unknown operating system or architecture")
        return _platform(host["os"], arch, "" if (arch, variant) == ("arm", "v7") else variant)
    if len(parts) == 2:
        arch, variant = _arch(parts[1], "")
        return _platform(_os(parts[0]), arch, "" if (arch, variant) == ("arm", "v7") else variant)
    if len(parts) == 3:
        arch, variant = _arch(parts[1], parts[2])
        return _platform(_os(parts[0]), arch, "v8" if arch == "arm64" and not variant else variant)
    raise _invalid(f"\"{text}\": cannot parse platform specifier")


def _platform(os_: str, arch: str, variant: str) -> dict[str, str]:
    plat = {"os": os_, "architecture": arch}
    if variant:
        plat["variant"] = variant
    return plat


def resolve(spec: str | dict[str, str] | None) -> dict[str, str]:
    """``os/arch[/variant]`` (or a platform dict, or None for the host's) as an OCI platform."""
    if spec is None:
        return host_platform()
    if isinstance(spec, dict):
        return dict(spec)
    return parse(spec)


def text(plat: dict[str, str]) -> str:
    return "/".join(p for p in (plat.get("os"), plat.get("architecture"), plat.get("variant")) if p)


def _variant(plat: dict[str, str]) -> str:
    variant = plat.get("variant") or ""
    return "" if plat.get("architecture") == "arm64" and variant == "v8" else variant


def matches(plat: dict[str, str], wanted: dict[str, str]) -> bool:
    """Whether ``plat`` (a config's or an index entry's) is ``wanted`` (a variant counts only
    when one is asked for; ``arm64`` and ``arm64/v8`` are one)."""
    return (plat.get("os") == wanted["os"] and plat.get("architecture") == wanted["architecture"]
            and (not wanted.get("variant") or _variant(plat) == _variant(wanted)))


def choose_manifest(index: dict[str, Any], plat: dict[str, str]) -> dict[str, Any]:
    """The entry of an image index for platform ``plat`` (a variant is matched only when one is asked for)."""
    entry: dict[str, Any]
    for entry in index.get("manifests") or []:
        if matches(entry.get("platform") or {}, plat) and entry.get("mediaType", "") not in INDEXES:
            return entry
    raise NotFound(f"no matching manifest for {text(plat)} in the manifest list entries")
