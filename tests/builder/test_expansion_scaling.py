"""ARG expansion and ENV/LABEL handling take linear time: doubling the input less than
2.5 times the cost (quadratic work would take four times as long).

Each case builds a ``FROM scratch`` Dockerfile in-process (parse, expansion, the config
steps and the export) and takes the least CPU time of five builds, so that other work on
the machine does not count. At these sizes the quadratic code took seconds to minutes.
"""

from __future__ import annotations

import gc
import io
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from freight.builder.engine import build
from freight.builder.state import BuildOptions
from freight.store import Store


def _arg_value(size: int) -> str:
    return f"FROM scratch\nARG a={'x' * size}\nARG b=$a\nLABEL big=$b\n"


def _arg_doubling(size: int) -> str:
    return "FROM scratch\nARG a=xy\n" + "ARG a=$a$a\n" * (size.bit_length() - 2) + "ENV e=${a:+set}\n"


def _env_lines(count: int) -> str:
    return "FROM scratch\n" + "".join(f"ENV VAR{i}=value{i}\n" for i in range(count))


def _label_lines(count: int) -> str:
    return "FROM scratch\n" + "".join(f"LABEL label{i}=value{i}\n" for i in range(count))


def _cpu_time(store: Store, ctx: Path, dockerfile: str) -> float:
    (ctx / "Dockerfile").write_text(dockerfile)
    best = float("inf")
    for _ in range(5):
        gc.collect()  # each build starts with no garbage of the one before
        start = time.process_time()
        build(store, BuildOptions(context=str(ctx), progress="quiet", out=io.StringIO()))
        best = min(best, time.process_time() - start)
    return best


@pytest.mark.parametrize("make, size", [(_arg_value, 1 << 20), (_arg_doubling, 1 << 21),
                                        (_env_lines, 10_000), (_label_lines, 10_000)],
                         ids=["arg-1MiB", "arg-doubled-to-2MiB", "env-10000", "label-10000"])
def test_doubling_the_input_less_than_doubles_and_a_half_the_time(
        store: Store, tmp_path: Path, make: Callable[[int], str], size: int) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    half = _cpu_time(store, ctx, make(size // 2))
    full = _cpu_time(store, ctx, make(size))
    assert full < 2.5 * half, (half, full)


def test_the_doubled_arg_reaches_its_full_length(store: Store, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(_arg_doubling(1 << 20))
    result = build(store, BuildOptions(context=str(ctx), progress="quiet", out=io.StringIO()))
    config = store.resolve_image(result.image_id).config
    history = [h["created_by"] for h in config["history"]]
    assert history[-2] == "ARG a=" + "xy" * (1 << 19)
    assert history[-1] == "ENV e=set" and "e=set" in config["config"]["Env"]
