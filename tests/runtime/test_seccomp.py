"""Seccomp in real containers: Docker's default profile in ``run``, ``exec`` and a build's
RUN step, ``--security-opt seccomp=unconfined|PATH``, ``--privileged`` and no-new-privileges.

busybox has ``unshare`` and ``mkdir`` but nothing that calls ``keyctl``, ``add_key`` or
``personality``: a small static program, compiled here, makes those calls and prints
each one's outcome (``ok`` or the errno's name).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from testlib import require_tool

from freight.store import Store

HELPER_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#define KEYCTL_GET_KEYRING_ID 0
#define KEY_SPEC_PROCESS_KEYRING (-2)  /* private to this process, gone when it exits */

static long call(const char *name) {
    if (!strcmp(name, "keyctl"))
        return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1);
    if (!strcmp(name, "add_key"))
        return syscall(SYS_add_key, "user", "freight-test", "x", 1, KEY_SPEC_PROCESS_KEYRING);
    if (!strncmp(name, "personality=", 12))
        return syscall(SYS_personality, strtoul(name + 12, NULL, 0));
    errno = EINVAL;
    return -1;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        long r = call(argv[i]);
        printf("%s %s\n", argv[i], r < 0 ? strerrorname_np(errno) : "ok");
    }
    return 0;
}
"""
# ADDR_NO_RANDOMIZE is not among the personalities Docker's profile allows; 0xffffffff
# (query the current one) is.
CALLS = ("keyctl", "add_key", "personality=0x40000", "personality=0xffffffff")
DENIED = {"keyctl": "EPERM", "add_key": "EPERM", "personality=0x40000": "EPERM",
          "personality=0xffffffff": "ok"}
ALLOWED = dict.fromkeys(CALLS, "ok")
# The calls, unshare -U, and what /proc says.
PROBE = ("/h/sccheck " + " ".join(CALLS) + "; unshare -U true && echo unshare ok; "
         "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status")


@pytest.fixture(scope="module")
def helper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding ``sccheck``, a static binary that runs in any image."""
    gcc = require_tool("gcc", "gcc")
    directory = tmp_path_factory.mktemp("sccheck")
    (directory / "sccheck.c").write_text(HELPER_C)
    subprocess.run([gcc, "-static", "-O", "-o", str(directory / "sccheck"), str(directory / "sccheck.c")],
                   check=True, capture_output=True)
    (directory / "sccheck.c").unlink()
    directory.chmod(0o755)  # for a container user other than root too
    return directory


def outcome(stdout: str) -> dict[str, str]:
    """``{"keyctl": "EPERM", ..., "unshare": "ok"|"EPERM", "Seccomp": "2", "NoNewPrivs": "0"}``."""
    found = {"unshare": "EPERM"}
    for line in stdout.splitlines():
        key, _, value = line.replace(":", " ", 1).partition(" ")
        found[key] = value.strip()
    return found


def probe(cli, *flags: str, helper: Path) -> dict[str, str]:
    result = cli("run", "--rm", "-v", f"{helper}:/h:ro", *flags, "busybox", "sh", "-c", PROBE)
    assert result.returncode == 0, result.stderr
    return outcome(result.stdout)


def test_default_profile_denies_what_dockers_denies(runtime_store: Store, cli, helper: Path) -> None:
    found = probe(cli, helper=helper)
    assert found == {**DENIED, "unshare": "EPERM", "Seccomp": "2", "NoNewPrivs": "0"}
    # The filter holds for a user other than root, and with --init (the command is PID 1's child).
    assert probe(cli, "-u", "65534", "--init", helper=helper)["keyctl"] == "EPERM"


def test_cap_sys_admin_allows_namespaces_but_not_the_keyring(runtime_store: Store, cli, helper: Path) -> None:
    found = probe(cli, "--cap-add", "SYS_ADMIN", helper=helper)
    assert found == {**DENIED, "unshare": "ok", "Seccomp": "2", "NoNewPrivs": "0"}


@pytest.mark.parametrize("flags", [("--security-opt", "seccomp=unconfined"), ("--privileged",)])
def test_unconfined_and_privileged_lift_the_filter(runtime_store: Store, cli, helper: Path,
                                                   flags: tuple[str, ...]) -> None:
    assert probe(cli, *flags, helper=helper) == {**ALLOWED, "unshare": "ok", "Seccomp": "0", "NoNewPrivs": "0"}


def test_no_new_privileges_with_the_filter(runtime_store: Store, cli, helper: Path) -> None:
    for flag, value in (("no-new-privileges", "1"), ("no-new-privileges=true", "1"),
                        ("no-new-privileges:true", "1"), ("no-new-privileges=false", "0")):
        found = probe(cli, "--security-opt", flag, "-u", "65534", helper=helper)
        assert found == {**DENIED, "unshare": "EPERM", "Seccomp": "2", "NoNewPrivs": value}, flag


def test_exec_inherits_the_containers_filter_and_no_new_privileges(runtime_store: Store, cli,
                                                                     helper: Path) -> None:
    cid = cli("run", "-d", "-v", f"{helper}:/h:ro", "--security-opt", "no-new-privileges", "busybox",
              "sleep", "60", check=True).stdout.strip()
    found = outcome(cli("exec", cid, "sh", "-c", PROBE, check=True).stdout)
    assert found == {**DENIED, "unshare": "EPERM", "Seccomp": "2", "NoNewPrivs": "1"}
    # exec --privileged gives every capability, but the filter is the container's (as Docker).
    privileged = outcome(cli("exec", "--privileged", cid, "sh", "-c", PROBE, check=True).stdout)
    assert privileged["Seccomp"] == "2" and privileged["keyctl"] == "EPERM"
    cli("exec", "-d", cid, "sh", "-c", "grep Seccomp: /proc/self/status > /detached", check=True)
    assert cli("exec", cid, "sh", "-c", "sleep 0.2; cat /detached", check=True).stdout.split() == ["Seccomp:", "2"]
    unconfined = cli("run", "-d", "-v", f"{helper}:/h:ro", "--security-opt", "seccomp=unconfined", "busybox",
                     "sleep", "60", check=True).stdout.strip()
    found = outcome(cli("exec", unconfined, "sh", "-c", PROBE, check=True).stdout)
    assert found == {**ALLOWED, "unshare": "ok", "Seccomp": "0", "NoNewPrivs": "0"}
    cli("rm", "-f", cid, unconfined, check=True)


def test_a_custom_profile_is_applied_and_recorded(runtime_store: Store, cli, tmp_path: Path) -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    path = tmp_path / "no-mkdir.json"
    path.write_text(json.dumps(profile, indent=2))
    cid = cli("create", "--security-opt", f"seccomp={path}", "busybox", "sh", "-c",
              "grep Seccomp: /proc/self/status; mkdir /made; touch /touched && echo touched",
              check=True).stdout.strip()
    result = cli("start", "-a", cid)
    assert result.returncode == 0
    assert "mkdir: can't create directory '/made': Operation not permitted" in result.stderr
    assert result.stdout.split() == ["Seccomp:", "2", "touched"]
    # As Docker's client does, the profile's content is sent and recorded, not its path.
    security = json.loads(cli("inspect", "-f", "{{json .HostConfig.SecurityOpt}}", cid, check=True).stdout)
    assert security == ["seccomp=" + json.dumps(profile, separators=(",", ":"))]


def test_the_containers_common_profile_loads(runtime_store: Store, cli, helper: Path) -> None:
    """Podman's profile, another real one in Docker's format: it answers ENOSYS by default
    (``defaultErrnoRet``), allows ``keyctl`` and ``unshare`` but does not list ``add_key``."""
    found = probe(cli, "--security-opt", "seccomp=/usr/share/containers/seccomp.json", helper=helper)
    assert found == {"keyctl": "ok", "add_key": "ENOSYS", "personality=0x40000": "ENOSYS",
                     "personality=0xffffffff": "ok", "unshare": "ok", "Seccomp": "2", "NoNewPrivs": "0"}


def test_bad_profiles_and_options_fail_with_125_and_create_nothing(runtime_store: Store, cli,
                                                                    tmp_path: Path) -> None:
    (tmp_path / "truncated.json").write_text('{"defaultAction": ')
    (tmp_path / "action.json").write_text('{"defaultAction": "SCMP_ACT_NOPE"}')
    (tmp_path / "both.json").write_text('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": '
                                        '[{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}')
    (tmp_path / "index.json").write_text('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],'
                                         ' "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1,'
                                         ' "op": "SCMP_CMP_EQ"}]}]}')
    cases = {
        "seccomp=/nonexistent.json": "freight: opening seccomp profile (/nonexistent.json) failed: "
                                     "open /nonexistent.json: no such file or directory",
        f"seccomp={tmp_path}/truncated.json": f"freight: compacting json for seccomp profile "
                                              f"({tmp_path}/truncated.json) failed: ",
        f"seccomp={tmp_path}/action.json": 'Error: Decoding seccomp profile failed: defaultAction: '
                                           'unknown value "SCMP_ACT_NOPE"',
        f"seccomp={tmp_path}/both.json": "Error: Decoding seccomp profile failed: syscalls[0]: both 'name' "
                                         "and 'names' are specified",
        f"seccomp={tmp_path}/index.json": "Error: Decoding seccomp profile failed: syscalls[0].args[0].index: "
                                          "6 is not an argument index",
        "seccomp": 'freight: Invalid --security-opt: "seccomp"',
        "no-new-privileges=maybe": 'Error: invalid --security-opt 2: "no-new-privileges=maybe"',
        "nonsense=1": 'Error: invalid --security-opt 2: "nonsense=1"',
    }
    for opt, message in cases.items():
        for command in ("run", "create"):
            result = cli(command, "--security-opt", opt, "busybox", "true")
            assert result.returncode == 125, (opt, result.stderr)
            assert result.stderr.startswith(message), (opt, result.stderr)
            assert "Traceback" not in result.stderr
    assert cli("ps", "-aq", check=True).stdout == ""


def test_build_run_steps_get_the_default_profile(busybox_store: Store, cli, helper: Path,
                                                 tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "sccheck").write_bytes((helper / "sccheck").read_bytes())
    (context / "sccheck").chmod(0o755)
    (context / "Dockerfile").write_text(
        "FROM busybox\n"
        f"RUN --mount=type=bind,source=sccheck,target=/h/sccheck ( {PROBE} ) > /probe.txt\n")
    cli("build", "-q", "-t", "probed", str(context), check=True)
    result = cli("run", "--rm", "probed", "cat", "/probe.txt", check=True)
    assert outcome(result.stdout) == {**DENIED, "unshare": "EPERM", "Seccomp": "2", "NoNewPrivs": "0"}
