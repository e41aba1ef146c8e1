"""The runtime-spec's ``linux.seccomp`` as a kernel filter: compiled by libseccomp, cached,
loaded just before exec.

Runs in a container's child process. ``prepare`` (before the pivot, while the
host's files are in reach) gives the BPF program libseccomp compiles for a
``linux.seccomp``: from the cache (``seccomp`` in the runtime directory, which the machine empties at
boot) when a container before compiled the same one with the same libseccomp on
the same kernel, else compiled through pyseccomp and stored there. Compiling
costs some 35 ms of CPU (the binding's import, an ``ldconfig`` run among it, and
libseccomp's work for each ABI of the machine); with a cached program the whole
filter adds about 3 ms to a container's start (docs/architecture.md, "Seccomp").
crun keeps the same kind of cache.

Compiling follows runc: a syscall this libseccomp does not know is left out (the
default action answers it), a rule whose action is the default one is skipped,
and a rule with two conditions on one argument becomes one rule per condition.
``load`` installs the program with seccomp(2), as libseccomp's own load does.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import stat
import zlib

from freight.errors import FreightError
from freight.record import Record
from freight.settings import runtime_dir

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

_CACHE_FORMAT = b"freight seccomp cache 1"
_CACHE_ENTRIES = 256  # beyond this many programs, the older half goes
_FLAG_BITS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
              "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}
_SECCOMP_SET_MODE_FILTER = 1
_BPF_MAXINSNS = 4096
_UNKNOWN_SYSCALL = -1  # libseccomp's __NR_SCMP_ERROR


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Program(Record):
    """A compiled filter, ready for ``load``: its code, seccomp(2) flags and syscall number."""

    code: bytes
    flags: int
    syscall: int


def prepare(oci: dict[str, Any], cache_dir: str | None = None) -> Program:
    """The program for ``oci``, from the cache (default: ``seccomp`` in the runtime directory)
    or compiled (and then cached)."""
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError as err:
        raise FreightError(f"seccomp: cannot load libseccomp: {err}") from None
    lib.seccomp_version.restype = ctypes.POINTER(_Version)
    key = _cache_key(oci, lib.seccomp_version().contents)
    directory = _usable_dir(cache_dir or os.path.join(runtime_dir(), "seccomp"))
    code = _cached(directory, key) if directory else None
    if code is None:
        code = compile_bpf(oci)
        if directory:
            _store(directory, key, code)
    flags = 0
    for flag in oci.get("flags") or []:
        flags |= _FLAG_BITS[flag]
    return Program(code, flags, lib.seccomp_syscall_resolve_name(b"seccomp"))


def load(program: Program) -> None:
    """Install the filter on this process; without no_new_privs this needs CAP_SYS_ADMIN."""
    code = ctypes.create_string_buffer(program.code, len(program.code))
    fprog = _SockFprog(len(program.code) // 8, ctypes.cast(code, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(ctypes.c_long(program.syscall), ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
                    ctypes.c_long(program.flags), ctypes.byref(fprog)) != 0:
        raise FreightError(f"error loading seccomp filter into kernel: {os.strerror(ctypes.get_errno())}")


# ---------------------------------------------------------------- compiling (pyseccomp)


def compile_bpf(oci: dict[str, Any]) -> bytes:
    """libseccomp's BPF program for ``oci`` (the binding is imported only here)."""
    import pyseccomp

    default = _action(pyseccomp, oci["defaultAction"], oci.get("defaultErrnoRet"))
    try:
        filt = pyseccomp.SyscallFilter(default)
        for arch in oci.get("architectures") or []:
            _add_arch(pyseccomp, filt, arch)
        for call in oci.get("syscalls") or []:
            action = _action(pyseccomp, call["action"], call.get("errnoRet"))
            if action != default:
                _add_rules(pyseccomp, filt, call, action)
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        with open(fd, "w+b") as out:
            filt.export_bpf(out)
            out.seek(0)
            return out.read()
    except OSError as err:
        raise FreightError(f"error initializing seccomp filter: {err.strerror or err}") from None


def _action(pyseccomp: Any, name: str, errno_ret: int | None) -> int:
    """libseccomp's action; ERRNO and TRACE answer EPERM unless told otherwise (runc)."""
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        make = pyseccomp.ERRNO if name == "SCMP_ACT_ERRNO" else pyseccomp.TRACE
        return int(make(errno.EPERM if errno_ret is None else errno_ret))
    return int({"SCMP_ACT_KILL": pyseccomp.KILL_THREAD, "SCMP_ACT_KILL_THREAD": pyseccomp.KILL_THREAD,
            "SCMP_ACT_KILL_PROCESS": pyseccomp.KILL_PROCESS, "SCMP_ACT_TRAP": pyseccomp.TRAP,
            "SCMP_ACT_ALLOW": pyseccomp.ALLOW, "SCMP_ACT_LOG": pyseccomp.LOG}[name])


def _add_arch(pyseccomp: Any, filt: Any, name: str) -> None:
    arch = getattr(pyseccomp.Arch, name.removeprefix("SCMP_ARCH_"), None)
    if arch is None:
        raise FreightError(f"seccomp: architecture {name} is not supported here")
    try:
        filt.add_arch(arch)
    except OSError as err:
        if err.errno != errno.EEXIST:  # the native architecture is there from the start
            raise


def _add_rules(pyseccomp: Any, filt: Any, call: dict[str, Any], action: int) -> None:
    operators = {"SCMP_CMP_NE": pyseccomp.NE, "SCMP_CMP_LT": pyseccomp.LT, "SCMP_CMP_LE": pyseccomp.LE,
                 "SCMP_CMP_EQ": pyseccomp.EQ, "SCMP_CMP_GE": pyseccomp.GE, "SCMP_CMP_GT": pyseccomp.GT,
                 "SCMP_CMP_MASKED_EQ": pyseccomp.MASKED_EQ}
    args = call.get("args") or []
    conditions = [pyseccomp.Arg(a["index"], operators[a["op"]], a["value"], a.get("valueTwo", 0)) for a in args]
    # Two conditions on one argument cannot be ANDed in one rule: each becomes a rule (ORed).
    repeated = len({a["index"] for a in args}) < len(args)
    groups = [[c] for c in conditions] if repeated else [conditions]
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


# ---------------------------------------------------------------- the cache


def _cache_key(oci: dict[str, Any], version: _Version) -> bytes:
    """What a compiled program depends on: the filter, libseccomp's version, the kernel."""
    uname = os.uname()
    return b"\n".join([_CACHE_FORMAT, f"{version.major}.{version.minor}.{version.micro}".encode(),
                       uname.release.encode(), uname.version.encode(), uname.machine.encode(),
                       json.dumps(oci, sort_keys=True, separators=(",", ":")).encode()])


def _entry(directory: str, key: bytes) -> str:
    return f"{directory}/{zlib.crc32(key):08x}-{len(key):x}"


def _usable_dir(path: str) -> str | None:
    """The cache directory, made if missing; None unless it is ours alone (0700-like)."""
    try:
        os.makedirs(path, 0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return None
    return path


def _cached(directory: str, key: bytes) -> bytes | None:
    """The cached program for ``key``: an entry holds its whole key, compared exactly."""
    try:
        with open(_entry(directory, key), "rb") as f:
            data = f.read()
    except OSError:
        return None
    stored, _, code = data.partition(b"\0")
    if stored != key or not code or len(code) % 8 or len(code) // 8 > _BPF_MAXINSNS:
        return None
    return code


def _store(directory: str, key: bytes, code: bytes) -> None:
    """Add an entry (atomically; a failure only means no cache) and keep the cache bounded."""
    path = _entry(directory, key)
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), "wb") as f:
            f.write(key + b"\0" + code)
        os.replace(temporary, path)
        entries = os.listdir(directory)
        if len(entries) > _CACHE_ENTRIES:
            by_age = sorted(entries, key=lambda name: os.lstat(f"{directory}/{name}").st_mtime)
            for name in by_age[: len(by_age) // 2]:
                os.unlink(f"{directory}/{name}")
    except OSError:
        pass
