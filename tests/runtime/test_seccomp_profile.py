"""Docker's seccomp profile format -> the runtime-spec's ``linux.seccomp``: includes and
excludes by capability, architecture and kernel, the schema of what comes out, and the
errors for bad profiles; and the libseccomp filter built from it, loaded in a forked
process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from freight.runtime import seccomp
from freight.runtime.caps import DEFAULT

DOCKER_CAPS = ["CAP_" + c for c in DEFAULT]
KERNEL = (6, 1)


def default(caps: list[str] = DOCKER_CAPS, machine: str = "x86_64", kernel: tuple[int, int] = KERNEL) -> dict:
    with open(seccomp.DEFAULT_PROFILE) as f:
        return seccomp.to_oci(json.load(f), caps, machine, kernel)


def rules_for(oci: dict, name: str) -> list[dict]:
    return [{k: v for k, v in rule.items() if k != "names"} for rule in oci["syscalls"] if name in rule["names"]]


def allowed(oci: dict) -> set[str]:
    """Names some rule allows (with or without conditions)."""
    return {n for rule in oci["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}


def test_default_profile_for_dockers_default_capabilities() -> None:
    oci = default()
    assert oci["defaultAction"] == "SCMP_ACT_ERRNO" and oci["defaultErrnoRet"] == 1
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    names = allowed(oci)
    assert {"read", "write", "execve", "arch_prctl", "modify_ldt", "chroot", "socket"} <= names
    for denied in ("keyctl", "add_key", "request_key", "unshare", "mount", "umount2", "setns", "bpf",
                   "reboot", "init_module", "s390_pci_mmio_read", "arm_fadvise64_64"):
        assert denied not in names, denied
    assert rules_for(oci, "clone") == [{"action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}]}]
    assert rules_for(oci, "clone3") == [{"action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    assert sorted(r["args"][0]["value"] for r in rules_for(oci, "personality")) == [
        0, 8, 0x20000, 0x20008, 0xFFFFFFFF]


def test_capabilities_include_and_exclude_rules() -> None:
    admin = default(DOCKER_CAPS + ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_BOOT"], kernel=(4, 4))
    assert {"unshare", "mount", "setns", "clone3", "ptrace", "reboot"} <= allowed(admin)
    assert rules_for(admin, "clone") == [{"action": "SCMP_ACT_ALLOW"}]  # no flag mask, no ENOSYS for clone3
    assert rules_for(admin, "clone3") == [{"action": "SCMP_ACT_ALLOW"}]
    assert "keyctl" not in allowed(admin)  # no capability brings the keyring back
    without_chroot = default([c for c in DOCKER_CAPS if c != "CAP_SYS_CHROOT"])
    assert "chroot" not in allowed(without_chroot)


@pytest.mark.parametrize("machine, architectures, present, absent", [
    ("s390x", ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"], {"s390_pci_mmio_read"}, {"arch_prctl", "modify_ldt"}),
    ("aarch64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"], {"arm_fadvise64_64", "set_tls"}, {"arch_prctl"}),
    ("riscv64", ["SCMP_ARCH_RISCV64"], {"riscv_flush_icache"}, {"arch_prctl", "set_tls"}),
])
def test_architecture_rules(machine: str, architectures: list[str], present: set[str], absent: set[str]) -> None:
    oci = default(machine=machine)
    assert oci["architectures"] == architectures
    assert present <= allowed(oci) and not absent & allowed(oci)
    if machine == "s390x":  # clone's flags are its second argument there
        assert rules_for(oci, "clone")[0]["args"][0]["index"] == 1


def test_kernel_version_rules() -> None:
    assert "ptrace" in allowed(default(kernel=(4, 8)))
    assert "ptrace" not in allowed(default(kernel=(4, 4)))
    assert seccomp.kernel_version("6.18.44-fc-v1272") == (6, 18)
    assert seccomp.kernel_version("3.12-1-amd64") == (3, 12)


def test_the_output_is_the_runtime_specs_schema_and_plain_json() -> None:
    for oci in (default(), default(machine="s390x"), default(DOCKER_CAPS + ["CAP_SYS_ADMIN"])):
        assert json.loads(json.dumps(oci)) == oci
        assert set(oci) <= {"defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls"}
        for rule in oci["syscalls"]:
            assert set(rule) <= {"names", "action", "errnoRet", "args"} and rule["names"]
            for arg in rule.get("args", []):
                assert set(arg) <= {"index", "value", "valueTwo", "op"}


def test_container_profile_choices() -> None:
    assert seccomp.container_profile("unconfined", False, DOCKER_CAPS) is None
    assert seccomp.container_profile(None, True, DOCKER_CAPS) is None
    assert seccomp.container_profile("builtin", True, DOCKER_CAPS) is None
    assert seccomp.container_profile("builtin", False, DOCKER_CAPS) == seccomp.default_profile(DOCKER_CAPS)
    custom = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                         "architectures": ["SCMP_ARCH_X86_64"],
                         "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                                       "comment": "kept out", "includes": {"arches": ["amd64", "arm64"]}}]})
    expected = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    # As Docker: --privileged with a profile of its own applies that profile.
    assert seccomp.container_profile(custom, True, DOCKER_CAPS) == expected
    assert seccomp.to_oci({}, DOCKER_CAPS) is None  # nothing in it: Docker runs unconfined


@pytest.mark.parametrize("profile, message", [
    ([], "profile: not a JSON object"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, 'defaultAction: unknown value "SCMP_ACT_NOTIFY"'),
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
      "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}, "both 'architectures' and 'archMap'"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {"names": ["read"]}}, "profile.syscalls: not a JSON array"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]},
     "syscalls[0].names: a rule needs a list of syscall names"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                                        "errnoRet": -1}]},
     "syscalls[0].errnoRet: -1 is not an unsigned 64-bit integer"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                                        "args": [{"index": 0, "value": 1, "op": "EQ"}]}]},
     'syscalls[0].args[0].op: unknown value "EQ"'),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                                        "includes": {"minKernel": "4"}}]},
     'syscalls[0].includes.minKernel: invalid kernel version: "4"'),
    ({"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]},
     'flags: unknown value "SECCOMP_FILTER_FLAG_NEW_LISTENER"'),
    ({"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/notify.sock"},
     "listenerPath: seccomp notification (SCMP_ACT_NOTIFY) is not supported"),
])
def test_bad_profiles_are_refused_with_one_line(profile: object, message: str) -> None:
    with pytest.raises(seccomp.ProfileError) as caught:
        seccomp.to_oci(profile, DOCKER_CAPS, "x86_64", KERNEL)
    assert str(caught.value).startswith("Decoding seccomp profile failed: ")
    assert message in str(caught.value) and "\n" not in str(caught.value)


_LOAD_AND_CALL = """
import ctypes, json, sys
from freight.runtime import seccomp_filter
program = seccomp_filter.prepare(json.load(sys.stdin), sys.argv[1])
compiled = "pyseccomp" in sys.modules
seccomp_filter.load(program)
libc = ctypes.CDLL(None, use_errno=True)
results = [ctypes.get_errno() if libc.personality(p) == -1 else 0 for p in (0x40000, 0x400000, 0xFFFFFFFF)]
results.append(ctypes.get_errno() if libc.getpgid(0) == -1 else 0)
print(json.dumps({"compiled": compiled, "results": results}))
"""
ORED_CONDITIONS = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 0, "value": 0x40000, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 0x400000, "op": "SCMP_CMP_EQ"}]},
        {"names": ["no_such_syscall", "getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
    ]}


def load_and_call(oci: dict, cache: Path) -> dict:
    """In a process of its own: prepare ``oci`` with ``cache``, load it, make the calls."""
    result = subprocess.run([sys.executable, "-c", _LOAD_AND_CALL, str(cache)], input=json.dumps(oci),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_filter_built_from_the_oci_form_holds_in_the_kernel(tmp_path: Path) -> None:
    """Two conditions on one argument are ORed (as runc adds them), a syscall libseccomp
    does not know is skipped, errnoRet is answered; the second time the program comes
    from the cache, without the binding."""
    oci = seccomp.to_oci(ORED_CONDITIONS, DOCKER_CAPS)
    cache = tmp_path / "cache"
    assert load_and_call(oci, cache) == {"compiled": True, "results": [13, 13, 0, 1]}
    (entry,) = cache.iterdir()
    assert cache.stat().st_mode & 0o777 == 0o700 and entry.stat().st_mode & 0o777 == 0o600
    assert load_and_call(oci, cache) == {"compiled": False, "results": [13, 13, 0, 1]}
    other = seccomp.to_oci({**ORED_CONDITIONS, "defaultAction": "SCMP_ACT_LOG"}, DOCKER_CAPS)
    assert load_and_call(other, cache)["compiled"] is True  # another filter, another entry
    assert len(list(cache.iterdir())) == 2


def test_a_cache_entry_is_used_only_for_its_own_filter(tmp_path: Path) -> None:
    """An entry holds its whole key: one whose key differs (or whose code is cut) is
    compiled again and replaced; a cache directory others could write is not used."""
    oci = seccomp.to_oci(ORED_CONDITIONS, DOCKER_CAPS)
    cache = tmp_path / "cache"
    load_and_call(oci, cache)
    (entry,) = cache.iterdir()
    key, _, code = entry.read_bytes().partition(b"\0")
    entry.write_bytes(key.replace(b"SCMP_ACT_ALLOW", b"SCMP_ACT_KILL") + b"\0" + code)
    assert load_and_call(oci, cache) == {"compiled": True, "results": [13, 13, 0, 1]}
    assert entry.read_bytes() == key + b"\0" + code
    entry.write_bytes(key + b"\0" + code[:-3])
    assert load_and_call(oci, cache)["compiled"] is True
    cache.chmod(0o777)
    for child in cache.iterdir():
        child.unlink()
    assert load_and_call(oci, cache) == {"compiled": True, "results": [13, 13, 0, 1]}
    assert list(cache.iterdir()) == []
