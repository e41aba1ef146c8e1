"""bench/report.py: the benchmarks' printed tables read into ratio rows, and the report with
its table and plots."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from testlib import REPO

_OUTPUTS = {
    "run_latency-0.txt": "engine        median       min  runs\nfreight        90.0ms    80.0ms    10\n"
                         "podman        180.0ms   170.0ms    10\nfreight / podman: 0.50\nfreight / crun: 2.10\n",
    "run_latency-1.txt": "freight / podman: 0.60\nfreight / crun: 1.90\nfreight-runsc / podman: 1.40\n",
    "monitor_memory-0.txt": "monitor  running  PSS per monitor, MiB: mean  min    max    total\n"
                            "freight       10    9.11   9.11   9.12     91.1\n"
                            "conmon        10    0.59   0.58   0.59      5.9\n"
                            "freight monitor / conmon, 10 running: 15.44\n",
    "listing-0.txt": "command  engine      median       min   ratio\nimages   freight      67.9ms     36.0ms   \n"
                     "images   podman       51.8ms     26.5ms   freight/podman 1.31\n"
                     "ps -a    podman       70.7ms     37.7ms   freight/podman 1.18\n",
    "build-0.txt": "tool                  cold (s)  cached (s)  cold ratio  cached ratio\n"
                   "freight                  0.237       0.057       1.00x         1.00x\n"
                   "docker build             2.000       0.500        0.80x          0.40x\n",
    "save_load-0.txt": "image: one 50 MB layer\n       freight    skopeo   ratio\nsave      0.500s    1.000s    0.50\n"
                       "load      0.800s    1.000s    0.80\n",
    "registry_transfer-0.txt": "registry  what          freight   skopeo  freight/skopeo  per run\n"
                               "freight   push            1.00s    2.00s            0.50  0.50 [0.40-0.70]  met\n"
                               "          pull            1.00s    1.00s            1.00  1.00 [0.90-1.10]  met\n",
    "unpack-0.txt": "\nbusybox: 2 MB tar, 1 MB gzip, 3 runs\n  freight / tar -xzf: wall 0.90x, cpu 1.10x\n"
                    "rootfs layer: Debian minbase (cached): 170 MB tar, 65 MB gzip, 3 runs\n"
                    "  freight / umoci unpack: wall 0.47x, cpu 0.28x\n",
}


def _report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", REPO / "bench" / "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_report"] = module
    spec.loader.exec_module(module)
    return module


def test_outputs_become_rows_with_their_spread(tmp_path: Path) -> None:
    report = _report()
    for name, text in _OUTPUTS.items():
        (tmp_path / name).write_text(text)
    rows = {(bench, case, tool): ratios for bench, case, tool, ratios in report.collect(tmp_path)}
    assert rows[("run latency", "run --rm busybox true", "podman")] == [0.5, 0.6]
    assert rows[("run latency", "run --rm --runtime runsc busybox true", "podman")] == [1.4]
    assert rows[("monitor memory (PSS)", "10 running", "podman's conmon")] == [15.44]
    assert rows[("images/ps", "ps -a", "podman")] == [1.18]
    assert rows[("build", "cached", "docker build")] == [0.4]
    assert not [row for row in rows if row[2] == "freight"]
    assert rows[("save/load", "load", "skopeo")] == [0.8]
    assert rows[("push/pull", "pull (freight registry)", "skopeo")] == [1.0, 0.9, 1.1]
    assert rows[("unpack", "busybox", "tar -xzf")] == [0.9]
    assert rows[("unpack", "rootfs layer: Debian minbase", "umoci unpack")] == [0.47]


def test_every_kept_result_is_read(tmp_path: Path) -> None:
    """The outputs the benchmarks really printed, as kept in bench/results, each give rows."""
    report = _report()
    kept = sorted((REPO / "bench" / "results").glob("*-*.txt"))
    assert kept
    for path in kept:
        name = path.name.rsplit("-", 1)[0]
        assert list(report.BENCHMARKS[name][1](path.read_text())), path.name


def test_the_report_has_a_table_plots_and_the_machine(tmp_path: Path) -> None:
    report = _report()
    rows = [("run latency", "run", "podman", [0.5, 0.6, 0.7]), ("build", "cold", "docker", [1.2])]
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    report.write_report(rows, {"date": "2026-12-06 08:00 UTC", "cpu": "Some CPU", "cores": "2",
                               "memory": "8.0 GiB", "kernel": "6.1", "python": "3.11"}, doc, doc.parent / "plots")
    text = doc.read_text()
    assert "| run latency | run | podman | 0.60 | 0.50–0.70 |" in text
    assert "Ran on 2026-12-06 08:00 UTC: Some CPU, 2 cores" in text
    for name in ("run-latency", "build"):
        png = doc.parent / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](plots/{name}.png)" in text
