"""Linux capabilities by name, Docker's default set, and ``--cap-add/--cap-drop``."""

from __future__ import annotations

from freight.errors import InvalidArgument

NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
    "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
    "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
    "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
NUMBERS = {name: number for number, name in enumerate(NAMES)}

# Docker's default capabilities (moby oci/caps/defaults.go).
DEFAULT = (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
)


def last_cap() -> int:
    """The highest capability number this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def normalize(name: str) -> str:
    """``net_admin`` / ``CAP_NET_ADMIN`` -> ``CAP_NET_ADMIN``; ALL stays ALL."""
    upper = name.strip().upper()
    if upper == "ALL":
        return upper
    bare = upper[4:] if upper.startswith("CAP_") else upper
    if bare not in NUMBERS:
        raise InvalidArgument(f'unknown capability: "{name}"')
    return "CAP_" + bare


def all_caps() -> list[str]:
    top = min(last_cap(), len(NAMES) - 1)
    return ["CAP_" + n for n in NAMES[: top + 1]]


def effective_list(cap_add: list[str], cap_drop: list[str], privileged: bool) -> list[str]:
    """The container's capability list the way Docker's ``TweakCapabilities`` makes it."""
    if privileged:
        return all_caps()
    adds = [normalize(c) for c in cap_add]
    drops = [normalize(c) for c in cap_drop]
    if "ALL" in adds:
        return [c for c in all_caps() if c not in drops]
    if "ALL" in drops:
        base: list[str] = []
    else:
        base = ["CAP_" + n for n in DEFAULT]
    caps = [c for c in base if c not in drops]
    for cap in adds:
        if cap != "ALL" and cap not in caps:
            caps.append(cap)
    return caps


def mask(caps: list[str]) -> int:
    """A 64-bit mask from ``CAP_*`` names."""
    value = 0
    for cap in caps:
        value |= 1 << NUMBERS[cap[4:]]
    return value
