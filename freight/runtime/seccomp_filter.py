"""The runtime-spec's ``linux.seccomp`` as a kernel filter, through libseccomp (pyseccomp).

Imported only in a container's child process, and only when it has a profile:
the binding costs start-up time (it finds libseccomp.so through ldconfig).
``build`` runs before the pivot, while the binding and the library are still
in reach; ``load`` installs the filter the way runc does: without
no_new_privileges, loading needs CAP_SYS_ADMIN, so it happens before the
capabilities are dropped; with it, as late as possible, right before exec.

As in runc, a syscall this libseccomp does not know is left out (the default
action answers it), a rule whose action is the default one is skipped, and a
rule with two conditions on the same argument becomes one rule per condition.
"""

from __future__ import annotations

import errno

import pyseccomp

from freight.errors import FreightError

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

_ACTIONS = {
    "SCMP_ACT_KILL": pyseccomp.KILL_THREAD, "SCMP_ACT_KILL_THREAD": pyseccomp.KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": pyseccomp.KILL_PROCESS, "SCMP_ACT_TRAP": pyseccomp.TRAP,
    "SCMP_ACT_ALLOW": pyseccomp.ALLOW, "SCMP_ACT_LOG": pyseccomp.LOG,
}
_WITH_ERRNO = {"SCMP_ACT_ERRNO": pyseccomp.ERRNO, "SCMP_ACT_TRACE": pyseccomp.TRACE}
_OPERATORS = {"SCMP_CMP_NE": pyseccomp.NE, "SCMP_CMP_LT": pyseccomp.LT, "SCMP_CMP_LE": pyseccomp.LE,
              "SCMP_CMP_EQ": pyseccomp.EQ, "SCMP_CMP_GE": pyseccomp.GE, "SCMP_CMP_GT": pyseccomp.GT,
              "SCMP_CMP_MASKED_EQ": pyseccomp.MASKED_EQ}
_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": pyseccomp.Attr.CTL_TSYNC,
          "SECCOMP_FILTER_FLAG_LOG": pyseccomp.Attr.CTL_LOG,
          "SECCOMP_FILTER_FLAG_SPEC_ALLOW": pyseccomp.Attr.CTL_SSB}
_UNKNOWN_SYSCALL = -1  # libseccomp's __NR_SCMP_ERROR


def _action(name: str, errno_ret: int | None) -> int:
    """libseccomp's action; ERRNO and TRACE answer EPERM unless told otherwise (runc)."""
    if name in _WITH_ERRNO:
        return _WITH_ERRNO[name](errno.EPERM if errno_ret is None else errno_ret)
    return _ACTIONS[name]


def build(oci: dict[str, Any]) -> pyseccomp.SyscallFilter:
    """A filter (not yet loaded) from the runtime-spec's ``linux.seccomp``."""
    default = _action(oci["defaultAction"], oci.get("defaultErrnoRet"))
    try:
        filt = pyseccomp.SyscallFilter(default)
        filt.set_attr(pyseccomp.Attr.CTL_NNP, 0)  # no_new_privs is the container's setting, not ours
        for arch in oci.get("architectures") or []:
            _add_arch(filt, arch)
        for flag in oci.get("flags") or []:
            filt.set_attr(_FLAGS[flag], 1)
        for call in oci.get("syscalls") or []:
            action = _action(call["action"], call.get("errnoRet"))
            if action != default:
                _add_rules(filt, call, action)
    except OSError as err:
        raise FreightError(f"error initializing seccomp filter: {err.strerror or err}") from None
    return filt


def _add_arch(filt: pyseccomp.SyscallFilter, name: str) -> None:
    arch = getattr(pyseccomp.Arch, name.removeprefix("SCMP_ARCH_"), None)
    if arch is None:
        raise FreightError(f"seccomp: architecture {name} is not supported here")
    try:
        filt.add_arch(arch)
    except OSError as err:
        if err.errno != errno.EEXIST:  # the native architecture is there from the start
            raise


def _add_rules(filt: pyseccomp.SyscallFilter, call: dict[str, Any], action: int) -> None:
    conditions = [pyseccomp.Arg(a["index"], _OPERATORS[a["op"]], a["value"], a.get("valueTwo", 0))
                  for a in call.get("args") or []]
    indexes = [a["index"] for a in call.get("args") or []]
    # Two conditions on one argument cannot be ANDed in one rule: each becomes a rule (ORed).
    groups = [[c] for c in conditions] if len(set(indexes)) < len(indexes) else [conditions]
    for name in call["names"]:
        number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
        if number == _UNKNOWN_SYSCALL:
            continue
        for group in groups:
            try:
                filt.add_rule(action, number, *group)
            except OSError as err:
                raise FreightError(f"error adding seccomp filter rule for syscall {name}: "
                                   f"{err.strerror or err}") from None


def load(filt: pyseccomp.SyscallFilter) -> None:
    try:
        filt.load()
    except OSError as err:
        raise FreightError(f"error loading seccomp filter into kernel: {err.strerror or err}") from None
