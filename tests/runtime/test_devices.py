"""devices: --device parsing and host lookup, --gpus parsing, CDI specs to container edits."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from freight.errors import FreightError, InvalidArgument
from freight.runtime import cgroups, devices, gpus, syscalls
from freight.runtime.cdi import CdiRegistry
from freight.runtime.devices import DeviceRequest
from freight.runtime.gpus import GpuRequest
from freight.runtime.limits import DeviceRule, Resources
from freight.runtime.spec import DeviceNode

# ---------------------------------------------------------------- --device


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/dev/fuse", DeviceRequest("/dev/fuse", "/dev/fuse", "rwm")),
        ("/dev/fuse:r", DeviceRequest("/dev/fuse", "/dev/fuse", "r")),
        ("/dev/sda:/dev/xvdc", DeviceRequest("/dev/sda", "/dev/xvdc", "rwm")),
        ("/dev/sda:/dev/xvdc/:rw", DeviceRequest("/dev/sda", "/dev/xvdc", "rw")),
        ("nvidia.com/gpu=all", DeviceRequest(cdi_name="nvidia.com/gpu=all")),
    ],
)
def test_parse_device(value: str, expected: DeviceRequest) -> None:
    assert devices.parse_device(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (":/dev/x", "bad format for path: :/dev/x"),
        ("/dev/a:/dev/b:rw:x", "bad format for path: /dev/a:/dev/b:rw:x"),
        ("/dev/a:/dev/b:rwx", "bad mode specified: rwx"),
        ("/dev/a:/dev/b:rr", "bad mode specified: rr"),
        ("/dev/a:relative", "relative is not an absolute path"),
    ],
)
def test_parse_device_errors(value: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        devices.parse_device(value)
    assert str(info.value) == f'invalid argument "{value}" for "--device" flag: {reason}'


def test_host_device_node_and_rule() -> None:
    nodes, rules = devices.host_devices(devices.parse_device("/dev/null:/dev/mynull:rw"))
    info = os.stat("/dev/null")
    assert nodes == [DeviceNode("/dev/mynull", "c", os.major(info.st_rdev), os.minor(info.st_rdev),
                                stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)]
    assert rules == [DeviceRule("c", 1, 3, "rw")]


def test_host_device_errors(tmp_path: Path) -> None:
    with pytest.raises(FreightError) as info:
        devices.host_devices(devices.parse_device("/dev/does-not-exist"))
    assert str(info.value) == ('error gathering device information while adding custom device '
                               '"/dev/does-not-exist": no such file or directory')
    regular = tmp_path / "file"
    regular.write_text("x")
    with pytest.raises(FreightError, match="not a device node"):
        devices.host_devices(devices.parse_device(str(regular)))


def test_host_device_directory(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for mknod")
    (tmp_path / "sub").mkdir()
    os.mknod(tmp_path / "sub" / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    (tmp_path / "notes").write_text("not a device")
    nodes, rules = devices.host_devices(devices.parse_device(f"{tmp_path}:/dev/stuff:r"))
    assert [(n.path, n.kind, n.major, n.minor, n.mode) for n in nodes] == [
        ("/dev/stuff/sub/null", "c", 1, 3, 0o600)]
    assert rules == [DeviceRule("c", 1, 3, "r")]


# ---------------------------------------------------------------- --gpus


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("all", GpuRequest(count=-1)),
        ("2", GpuRequest(count=2)),
        ('"device=0,1"', GpuRequest(count=0, device_ids=["0", "1"])),
        ("device=GPU-abc", GpuRequest(count=0, device_ids=["GPU-abc"])),
        ("count=all,capabilities=compute", GpuRequest(count=-1, capabilities=[["compute", "gpu"]])),
        ("driver=nvidia", GpuRequest(count=1, driver="nvidia")),
    ],
)
def test_parse_gpus(value: str, expected: GpuRequest) -> None:
    assert gpus.parse_gpus(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("all,all", "gpu request key 'all' can be specified only once"),
        ("foo=1", "unexpected key 'foo' in 'foo=1'"),
        ("x", 'invalid count (x): strconv.Atoi: parsing "x": invalid syntax'),
    ],
)
def test_parse_gpus_errors(value: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        gpus.parse_gpus(value)
    assert str(info.value) == f'invalid argument "{value}" for "--gpus" flag: {reason}'


# ---------------------------------------------------------------- CDI

GPU_SPEC = """\
cdiVersion: "0.6.0"
kind: nvidia.com/gpu
devices:
  - name: "0"
    containerEdits:
      deviceNodes:
        - path: /dev/fakegpu0
          hostPath: /dev/null
      env: ["FAKE_GPU_0=yes"]
  - name: "1"
    containerEdits:
      deviceNodes:
        - path: /dev/fakegpu1
          type: c
          major: 1
          minor: 5
          fileMode: 0640
          permissions: rw
  - name: all
    containerEdits:
      deviceNodes:
        - path: /dev/fakegpu0
          hostPath: /dev/null
        - {path: /dev/fakegpu1, type: c, major: 1, minor: 5}
containerEdits:
  env: ["NVIDIA_VISIBLE_DEVICES=void", "FAKE_DRIVER=1"]
  mounts:
    - hostPath: LIBDIR
      containerPath: /usr/lib/fake-driver
      options: [ro, nosuid, nodev, bind]
    - hostPath: LIBDIR
      containerPath: /opt
      options: [rbind]
  hooks:
    - hookName: createContainer
      path: /usr/bin/true
      args: ["true", hook, update-ldcache]
      env: ["HOOK=1"]
      timeout: 5
"""


@pytest.fixture
def cdi_dirs(tmp_path: Path) -> tuple[Path, Path]:
    etc, run = tmp_path / "etc-cdi", tmp_path / "run-cdi"
    etc.mkdir()
    run.mkdir()
    libdir = tmp_path / "lib"
    libdir.mkdir()
    (etc / "nvidia.yaml").write_text(GPU_SPEC.replace("LIBDIR", str(libdir)))
    return etc, run


def test_registry_lists_devices(cdi_dirs: tuple[Path, Path]) -> None:
    registry = CdiRegistry([str(d) for d in cdi_dirs])
    assert registry.devices("nvidia.com/gpu") == ["0", "1", "all"]
    assert registry.errors == []


def test_edits_of_one_gpu(cdi_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    registry = CdiRegistry([str(d) for d in cdi_dirs])
    edits = registry.edits(["nvidia.com/gpu=0"])
    null = os.stat("/dev/null")
    assert edits.devices == [DeviceNode("/dev/fakegpu0", "c", 1, 3, stat.S_IMODE(null.st_mode))]
    assert edits.rules == [DeviceRule("c", 1, 3, "rwm")]
    assert edits.env == ["FAKE_GPU_0=yes", "NVIDIA_VISIBLE_DEVICES=void", "FAKE_DRIVER=1"]
    assert [(m.type, m.source, m.target, m.readonly, m.flags) for m in edits.mounts] == [
        ("bind", str(tmp_path / "lib"), "/opt", False, 0),
        ("bind", str(tmp_path / "lib"), "/usr/lib/fake-driver", True,
         syscalls.MS_NOSUID | syscalls.MS_NODEV),
    ]
    (hook,) = edits.hooks["createContainer"]
    assert (hook.path, hook.args, hook.env, hook.timeout) == (
        "/usr/bin/true", ["true", "hook", "update-ldcache"], ["HOOK=1"], 5)
    assert edits.merge_env(["PATH=/bin", "FAKE_DRIVER=0"]) == [
        "PATH=/bin", "FAKE_DRIVER=1", "FAKE_GPU_0=yes", "NVIDIA_VISIBLE_DEVICES=void"]


def test_spec_edits_apply_once_for_many_devices(cdi_dirs: tuple[Path, Path]) -> None:
    registry = CdiRegistry([str(d) for d in cdi_dirs])
    edits = registry.edits(["nvidia.com/gpu=0", "nvidia.com/gpu=1"])
    assert [(d.path, d.major, d.minor, d.mode) for d in edits.devices] == [
        ("/dev/fakegpu0", 1, 3, stat.S_IMODE(os.stat("/dev/null").st_mode)),
        ("/dev/fakegpu1", 1, 5, 0o640)]
    assert edits.rules == [DeviceRule("c", 1, 3, "rwm"), DeviceRule("c", 1, 5, "rw")]
    assert edits.env.count("FAKE_DRIVER=1") == 1 and len(edits.mounts) == 2


def test_gpus_map_to_cdi_devices(cdi_dirs: tuple[Path, Path]) -> None:
    registry = CdiRegistry([str(d) for d in cdi_dirs])
    names = lambda value: gpus.gpu_device_names(gpus.parse_gpus(value), registry)  # noqa: E731
    assert names("all") == ["nvidia.com/gpu=all"]
    assert names("1") == ["nvidia.com/gpu=0"]
    assert names("2") == ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]
    assert names('"device=1,0"') == ["nvidia.com/gpu=1", "nvidia.com/gpu=0"]
    with pytest.raises(FreightError, match="could not select 3 GPUs: only 2 available"):
        names("3")
    with pytest.raises(InvalidArgument, match="cannot set both Count and DeviceIDs"):
        names("device=0,1")  # unquoted: CSV reads "device=0" and a count of 1, as Docker does
    all_edits = registry.edits(names("all"))
    assert [d.path for d in all_edits.devices] == ["/dev/fakegpu0", "/dev/fakegpu1"]


def test_unknown_gpu_is_unresolvable(cdi_dirs: tuple[Path, Path]) -> None:
    registry = CdiRegistry([str(d) for d in cdi_dirs])
    with pytest.raises(FreightError) as info:
        registry.edits(gpus.gpu_device_names(gpus.parse_gpus("device=7"), registry))
    assert str(info.value) == "CDI device injection failed: unresolvable CDI devices nvidia.com/gpu=7"


def test_no_gpu_spec_fails_like_docker(tmp_path: Path) -> None:
    registry = CdiRegistry([str(tmp_path / "empty"), str(tmp_path / "missing")])
    with pytest.raises(FreightError) as info:
        gpus.gpu_device_names(gpus.parse_gpus("all"), registry)
    assert str(info.value) == 'could not select device driver "" with capabilities: [[gpu]]'
    assert info.value.exit_code == 125


def test_json_spec_later_directory_wins_and_bad_files_are_skipped(
        cdi_dirs: tuple[Path, Path]) -> None:
    etc, run = cdi_dirs
    override = {"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu",
                "devices": [{"name": "0", "containerEdits": {"env": ["OVERRIDDEN=1"]}}]}
    (run / "override.json").write_text(json.dumps(override))
    (run / "broken.yaml").write_text("cdiVersion: [unclosed\n")
    (run / "nokind.json").write_text(json.dumps({"cdiVersion": "0.5.0", "devices": []}))
    (run / "README.txt").write_text("ignored")
    registry = CdiRegistry([str(etc), str(run)])
    assert registry.edits(["nvidia.com/gpu=0"]).env == ["OVERRIDDEN=1"]
    assert registry.edits(["nvidia.com/gpu=1"]).devices[0].path == "/dev/fakegpu1"
    assert sorted(Path(e.split(":")[0]).name for e in registry.errors) == ["broken.yaml", "nokind.json"]


def test_two_specs_in_one_directory_conflict(cdi_dirs: tuple[Path, Path]) -> None:
    etc, run = cdi_dirs
    (etc / "zz-other.json").write_text(json.dumps(
        {"cdiVersion": "0.6.0", "kind": "nvidia.com/gpu", "devices": [{"name": "1"}]}))
    registry = CdiRegistry([str(etc), str(run)])
    assert registry.edits(["nvidia.com/gpu=0"]).devices[0].path == "/dev/fakegpu0"
    with pytest.raises(FreightError, match="unresolvable CDI devices nvidia.com/gpu=1"):
        registry.edits(["nvidia.com/gpu=1"])


def test_missing_host_device_is_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({
        "cdiVersion": "0.6.0", "kind": "example.com/thing",
        "devices": [{"name": "a", "containerEdits": {"deviceNodes": [{"path": "/dev/nope-xyz"}]}}]}))
    registry = CdiRegistry([str(tmp_path)])
    with pytest.raises(FreightError) as info:
        registry.edits(["example.com/thing=a"])
    assert str(info.value) == ('CDI device injection failed: failed to stat CDI host device '
                               '"/dev/nope-xyz": No such file or directory')


def test_malformed_edit_is_a_cdi_error(tmp_path: Path) -> None:
    (tmp_path / "odd.json").write_text(json.dumps({
        "cdiVersion": "0.6.0", "kind": "example.com/thing",
        "devices": [{"name": "a", "containerEdits": {"deviceNodes": [
            {"path": "/dev/x", "type": "c", "major": 1, "minor": 3, "fileMode": "abc"}]}}]}))
    with pytest.raises(FreightError, match="^CDI device injection failed: invalid containerEdits"):
        CdiRegistry([str(tmp_path)]).edits(["example.com/thing=a"])


def test_device_rule_is_enforced_by_the_kernel() -> None:
    """A read-only ``--device`` rule lets a process in the cgroup read but not write."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create cgroups")
    _, rules = devices.host_devices(devices.parse_device("/dev/full:/dev/full:r"))
    cg = cgroups.create(f"test-{uuid.uuid4().hex[:12]}",
                        Resources(devices=[DeviceRule("a", allow=False), *rules]))
    try:
        if not cg.devices_enforced:
            pytest.skip("device rules need the v1 devices controller")
        code = ("open('/dev/full', 'rb').close()\n"
                "try:\n    open('/dev/full', 'wb')\nexcept PermissionError:\n    print('no write')")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                preexec_fn=lambda: cg.add(os.getpid()), timeout=20)
        assert result.stdout.strip() == "no write", result.stderr
    finally:
        cg.destroy()
