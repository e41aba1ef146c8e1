"""Run the benchmarks (or read their last results) and write ``docs/benchmarks.md``: a table
of freight's time as a ratio to each reference tool's, with its spread, and a plot per group.

Usage (as root, from the repository root)::

    python bench/report.py [--repeats N] [--only NAME ...]   # run, then write the report
    python bench/report.py --read                            # write it from the last results

Each benchmark script runs ``--repeats`` times (default 3); its printed table is kept in
``bench/results/NAME-K.txt`` and parsed here into rows ``(benchmark, case, tool, ratio)``
(freight's median over the tool's: below 1, freight is faster). A row's spread is the
lowest and highest ratio over the repeats (for ``registry_transfer``, which prints each
run's ratio, over its runs too). The report says on which machine and when it ran.
Plots need matplotlib (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "benchmarks.md"
PLOTS = REPO / "docs" / "benchmarks"

Row = tuple[str, str, str, list[float]]  # benchmark, case, tool, ratios (one per repeat or run)


def _run_latency(text: str) -> Iterator[Row]:
    for variant, tool, ratio in re.findall(r"^freight(-\S+)? / (\S+): ([\d.]+)$", text, re.M):
        runtime = f"--runtime {variant[1:]} " if variant else ""
        yield "run latency", f"run --rm {runtime}busybox true", tool, [float(ratio)]


def _monitor_memory(text: str) -> Iterator[Row]:
    for count, ratio in re.findall(r"^freight monitor / conmon, (\d+) running: ([\d.]+)$", text, re.M):
        yield "monitor memory (PSS)", f"{count} running", "podman's conmon", [float(ratio)]


def _command_table(group: str) -> Callable[[str], Iterator[Row]]:
    """The parser of a table of commands whose rows end ``freight/TOOL RATIO`` (``listing.py``,
    ``api_service.py``), as rows of ``group``."""
    def parse(text: str) -> Iterator[Row]:
        for command, tool, ratio in re.findall(r"^(.+?)\s+\S+\s+[\d.]+ms\s+[\d.]+ms\s+freight/(\S+) ([\d.]+)$",
                                               text, re.M):
            yield group, command, tool, [float(ratio)]
    return parse


def _build(text: str) -> Iterator[Row]:
    for tool, cold, cached in re.findall(r"^(\S.*?)\s+[\d.]+\s+[\d.]+\s+([\d.]+)x\s+([\d.]+)x$", text, re.M):
        if tool.strip() == "freight":  # its own row, 1.00x
            continue
        yield "build", "cold", tool.strip(), [float(cold)]
        yield "build", "cached", tool.strip(), [float(cached)]


def _save_load(text: str) -> Iterator[Row]:
    for verb, ratio in re.findall(r"^(save|load)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)$", text, re.M):
        yield "save/load", verb, "skopeo", [float(ratio)]


def _registry_transfer(text: str) -> Iterator[Row]:
    kind = ""
    row = r"^(\S*)\s+(push \(gzip\)|push|pull)\s+[\d.]+s\s+[\d.]+s\s+[\d.]+\s+([\d.]+) \[([\d.]+)-([\d.]+)\]"
    for line in text.splitlines():
        if match := re.match(row, line):
            kind = match[1] or kind
            yield "push/pull", f"{match[2]} ({kind} registry)", "skopeo", [float(match[i]) for i in (3, 4, 5)]


def _unpack(text: str) -> Iterator[Row]:
    label = ""
    for line in text.splitlines():
        if (head := re.match(r"^(\S.*?): [\d.]+ MB tar", line)) is not None:
            label = re.sub(r" \(.*?\)", "", head[1])  # "rootfs layer: Debian bookworm minbase"
        elif (ratio := re.match(r"^\s+freight / (.+?): wall ([\d.]+)x", line)) is not None:
            yield "unpack", label, ratio[1], [float(ratio[2])]


# Each benchmark: its script's arguments for a report run, and the parser of its output.
BENCHMARKS: dict[str, tuple[list[str], Callable[[str], Iterator[Row]]]] = {
    "run_latency": (["--runs", "10"], _run_latency),
    "listing": ([], _command_table("images/ps")),
    "api_service": (["--runs", "20"], _command_table("docker CLI through the API service")),
    "build": (["--runs", "5", "--dockerd"], _build),
    "registry_transfer": (["--runs", "3", "--mb", "50"], _registry_transfer),
    "save_load": ([], _save_load),
    "unpack": (["--runs", "3"], _unpack),
    "monitor_memory": ([], _monitor_memory),
}


def run(names: list[str], repeats: int) -> None:
    RESULTS.mkdir(exist_ok=True)
    for name in names:
        for old in RESULTS.glob(f"{name}-*.txt"):
            old.unlink()
        arguments, _ = BENCHMARKS[name]
        for repeat in range(repeats):
            print(f"running {name} ({repeat + 1}/{repeats})", file=sys.stderr, flush=True)
            result = subprocess.run([sys.executable, str(REPO / "bench" / f"{name}.py"), *arguments],
                                    capture_output=True, text=True, cwd=REPO)
            if result.returncode != 0:
                print(f"{name} failed:\n{result.stderr[-2000:]}", file=sys.stderr)
                break
            (RESULTS / f"{name}-{repeat}.txt").write_text(result.stdout)
    (RESULTS / "machine.json").write_text(json.dumps(machine(), indent=2) + "\n")


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    return {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu,
            "cores": str(os.cpu_count()), "memory": f"{memory / 2**20:.1f} GiB", "kernel": platform.release(),
            "python": platform.python_version()}


def collect(results: Path = RESULTS) -> list[Row]:
    """Every row of the saved outputs, the repeats of one row merged."""
    merged: dict[tuple[str, str, str], list[float]] = {}
    for name, (_, parse) in BENCHMARKS.items():
        for path in sorted(results.glob(f"{name}-*.txt")):
            for bench, case, tool, ratios in parse(path.read_text()):
                merged.setdefault((bench, case, tool), []).extend(ratios)
    return [(*key, ratios) for key, ratios in merged.items()]


def table(rows: list[Row]) -> str:
    lines = ["| benchmark | case | against | freight / tool (median) | spread (min–max) |",
             "| --- | --- | --- | ---: | ---: |"]
    for bench, case, tool, ratios in rows:
        lines.append(f"| {bench} | {case} | {tool} | {statistics.median(ratios):.2f} | "
                     f"{min(ratios):.2f}–{max(ratios):.2f} |")
    return "\n".join(lines)


def plot(rows: list[Row], plots: Path = PLOTS) -> list[Path]:
    """One horizontal bar chart per benchmark: the median ratio, whiskers at the spread."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots.mkdir(parents=True, exist_ok=True)
    written = []
    for bench in dict.fromkeys(row[0] for row in rows):
        mine = [row for row in rows if row[0] == bench]
        labels = [f"{case} vs {tool}" for _, case, tool, _ in mine]
        medians = [statistics.median(r[3]) for r in mine]
        low = [m - min(r[3]) for m, r in zip(medians, mine)]
        high = [max(r[3]) - m for m, r in zip(medians, mine)]
        fig, ax = plt.subplots(figsize=(9, 0.5 * len(mine) + 1.4))
        ax.barh(labels, medians, xerr=[low, high], color=["tab:green" if m <= 1 else "tab:orange"
                                                          for m in medians], capsize=3)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("freight time / tool time (below 1: freight is faster)")
        ax.set_title(bench)
        ax.invert_yaxis()
        fig.tight_layout()
        path = plots / f"{re.sub(r'[^a-z0-9]+', '-', bench.lower()).strip('-')}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def write_report(rows: list[Row], facts: dict[str, str], doc: Path = DOC, plots: Path = PLOTS,
                 note: str = "") -> None:
    images = plot(rows, plots) if rows else []
    parts = ["# Benchmarks", "",
             "freight's time over each reference tool's for the same work (below 1: freight is faster; for "
             "monitor memory, its memory over the tool's), the median of the runs, with the lowest and highest "
             "ratio seen. Written by `bench/report.py`; each "
             "benchmark's method is in its script's docstring under `bench/`.", "",
             f"Ran on {facts.get('date', '?')}: {facts.get('cpu', '?')}, {facts.get('cores', '?')} cores, "
             f"{facts.get('memory', '?')} memory, Linux {facts.get('kernel', '?')}, "
             f"Python {facts.get('python', '?')}.", "", *([note, ""] if note else []),
             table(rows) if rows else "No results yet.", ""]
    for image in images:
        parts += [f"![{image.stem}]({image.relative_to(doc.parent)})", ""]
    doc.write_text("\n".join(parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--read", action="store_true", help="write the report from the last results only")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each benchmark script (default 3)")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--note", default="", help="a line for the report on how it was run")
    args = parser.parse_args()
    if not args.read:
        run(args.only or list(BENCHMARKS), args.repeats)
    facts_path = RESULTS / "machine.json"
    facts = json.loads(facts_path.read_text()) if facts_path.exists() else machine()
    rows = collect()
    write_report(rows, facts, note=args.note)
    print(f"wrote {DOC.relative_to(REPO)} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
