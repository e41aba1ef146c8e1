"""Container limits as Docker's flags give them: memory, CPUs, PIDs and the device policy.

``parse_memory``, ``parse_memory_swap`` and ``parse_cpus`` read the flags with
Docker's error messages; ``Resources`` holds what ``hostconfig.make_resources``
makes of a container's HostConfig, and ``Resources.validate`` refuses what the
Docker daemon refuses. ``cgroups`` applies them.
"""

from __future__ import annotations

import os
import re

from freight.errors import InvalidArgument
from freight.record import Record, field

CFS_PERIOD_US = 100000
MIN_MEMORY = 6 * 1024 * 1024

_BINARY_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _flag_error(value: str, flag: str, reason: str) -> InvalidArgument:
    return InvalidArgument(f'invalid argument "{value}" for "{flag}" flag: {reason}')


def parse_memory(value: str, flag: str = "-m, --memory") -> int:
    """Parse a Docker memory size ("512m", "1g", "1.5G", "1024") into bytes.

    Units are binary (k = 1024), as Docker's ``RAMInBytes``.
    """
    match = re.match(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$", value)
    if not match:
        raise _flag_error(value, flag, f"invalid size: '{value}'")
    try:
        number = float(match.group(1))
    except ValueError:  # "1.2.3" passes the pattern, as in Docker, but is no number
        raise _flag_error(value, flag, f"invalid size: '{value}'") from None
    unit = match.group(2)
    return int(number * _BINARY_UNITS[unit.lower()]) if unit else int(number)


def parse_memory_swap(value: str) -> int:
    """Parse ``--memory-swap``: a size, or -1 for unlimited swap."""
    if value == "-1":
        return -1
    return parse_memory(value, "--memory-swap")


def parse_cpus(value: str) -> float:
    """Parse ``--cpus`` ("0.5", "1.5", "3/2") the way Docker's NanoCPUs flag does."""
    try:
        if value != value.strip() or "_" in value:  # Fraction allows these, Go does not
            raise ValueError(value)
        from fractions import Fraction  # costs ms of start-up; only --cpus needs it

        rational = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise _flag_error(value, "--cpus", f"failed to parse {value} as a rational number") from None
    if (rational * 1_000_000_000).denominator != 1:
        raise _flag_error(value, "--cpus", "value is too precise")
    return float(rational)


def _parse_cpu_list(text: str) -> set[int]:
    """"0-2,4" -> {0, 1, 2, 4}; raises ValueError on a malformed list."""
    result: set[int] = set()
    for part in text.strip().split(","):
        low, sep, high = part.partition("-")
        start = int(low)
        end = int(high) if sep else start
        if start < 0 or end < start:
            raise ValueError(f"invalid range {part}")
        result.update(range(start, end + 1))
    return result


class DeviceRule(Record):
    """One device cgroup rule; ``major``/``minor`` None means any (``*``)."""

    type: str  # "a" (all), "c" (char) or "b" (block)
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"
    allow: bool = True

    def v1_line(self) -> str:
        """The text written to devices.allow / devices.deny: ``c 1:3 rwm``."""
        major = "*" if self.major is None else str(self.major)
        minor = "*" if self.minor is None else str(self.minor)
        return f"{self.type} {major}:{minor} {self.access}"


# Docker's default device policy (moby oci defaults plus runc's allowed devices):
# deny everything, allow mknod of any node and use of the standard /dev nodes.
DEFAULT_DEVICE_RULES: tuple[DeviceRule, ...] = (
    DeviceRule("a", allow=False),
    DeviceRule("c", None, None, "m"),
    DeviceRule("b", None, None, "m"),
    DeviceRule("c", 1, 3),  # /dev/null
    DeviceRule("c", 1, 5),  # /dev/zero
    DeviceRule("c", 1, 7),  # /dev/full
    DeviceRule("c", 1, 8),  # /dev/random
    DeviceRule("c", 1, 9),  # /dev/urandom
    DeviceRule("c", 5, 0),  # /dev/tty
    DeviceRule("c", 5, 1),  # /dev/console
    DeviceRule("c", 5, 2),  # /dev/ptmx
    DeviceRule("c", 136, None),  # /dev/pts/*
    DeviceRule("c", 10, 200),  # /dev/net/tun
)


def _docker_device_rules() -> list[DeviceRule]:
    return list(DEFAULT_DEVICE_RULES)


class Resources(Record, frozen=False):
    """Container limits, in the units Docker's flags use once parsed.

    ``memory_swap`` is memory plus swap (Docker's ``--memory-swap``): None means the
    Docker default (twice ``memory``), -1 unlimited.  ``cpus`` becomes a CFS quota
    over a 100 ms period.  ``pids_limit`` of 0 or -1 means unlimited.  ``devices`` is
    the device cgroup policy in order (None leaves the devices cgroup open, as
    ``--privileged`` does); the default is Docker's.
    """

    memory: int | None = None
    memory_swap: int | None = None
    memory_reservation: int | None = None
    cpus: float | None = None
    cpu_period: int | None = None
    cpu_quota: int | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: int | None = None
    devices: list[DeviceRule] | None = field(default_factory=_docker_device_rules)

    def validate(self) -> None:
        """Reject values the Docker daemon rejects, with its messages."""
        if self.memory is not None and 0 < self.memory < MIN_MEMORY:
            raise InvalidArgument("Minimum memory limit allowed is 6MB")
        if self.memory_swap is not None and self.memory_swap > 0:
            if not self.memory:
                raise InvalidArgument(
                    "You should always set the Memory limit when using Memoryswap limit, see usage"
                )
            if self.memory_swap < self.memory:
                raise InvalidArgument(
                    "Minimum memoryswap limit should be larger than memory limit, see usage"
                )
        if self.memory_reservation and self.memory and self.memory < self.memory_reservation:
            raise InvalidArgument(
                "Minimum memory limit can not be less than memory reservation limit, see usage"
            )
        self._validate_cpu()
        self._validate_cpuset()

    def _validate_cpu(self) -> None:
        if self.cpus is not None and (self.cpu_period or self.cpu_quota):
            if self.cpu_period:
                raise InvalidArgument(
                    "Conflicting options: Nano CPUs and CPU Period cannot both be set"
                )
            raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
        ncpu = os.cpu_count() or 1
        if self.cpus is not None and not 0 <= self.cpus <= ncpu:
            raise InvalidArgument(
                f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            )
        if self.cpu_period and not 1000 <= self.cpu_period <= 1000000:
            raise InvalidArgument(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
            )
        if self.cpu_quota and self.cpu_quota > 0 and self.cpu_quota < 1000:
            raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")

    def _validate_cpuset(self) -> None:
        for value, what, plural, available in (
            (self.cpuset_cpus, "cpus", "CPUs", _available_cpus),
            (self.cpuset_mems, "mems", "memory nodes", _available_mems),
        ):
            if not value:
                continue
            try:
                requested = _parse_cpu_list(value)
            except ValueError:  # Docker's words, without Python's int() detail
                raise InvalidArgument(f"Invalid value {value} for cpuset {what}") from None
            have = available()
            if not requested <= _parse_cpu_list(have):
                raise InvalidArgument(
                    f"Requested {plural} are not available - requested {value}, available: {have}"
                )

    def effective_memory_swap(self) -> int | None:
        """The memory+swap limit to apply: Docker defaults it to twice the memory."""
        if self.memory and self.memory_swap is None:
            return 2 * self.memory
        return self.memory_swap

    def cfs(self) -> tuple[int, int] | None:
        """(quota_us, period_us) from ``cpus`` or the explicit quota/period."""
        if self.cpus:
            return round(self.cpus * CFS_PERIOD_US), CFS_PERIOD_US
        if self.cpu_quota or self.cpu_period:
            return (self.cpu_quota or -1), (self.cpu_period or CFS_PERIOD_US)
        return None

    def pins_cpuset(self) -> bool:
        return bool(self.cpuset_cpus or self.cpuset_mems)


def _available_cpus() -> str:
    return _read_first(("/sys/fs/cgroup/cpuset/cpuset.effective_cpus",
                        "/sys/fs/cgroup/cpuset.cpus.effective",
                        "/sys/devices/system/cpu/online"))


def _available_mems() -> str:
    return _read_first(("/sys/fs/cgroup/cpuset/cpuset.effective_mems",
                        "/sys/fs/cgroup/cpuset.mems.effective",
                        "/sys/devices/system/node/online"), default="0")


def _read_first(paths: tuple[str, ...], default: str = "0") -> str:
    for path in paths:
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text:
            return text
    return default
