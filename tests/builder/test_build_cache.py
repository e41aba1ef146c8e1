"""The build cache: hits cost nothing, a change invalidates only what follows it."""

from __future__ import annotations

import re
from pathlib import Path

from freight.builder.cache import prune_cache
from freight.store import Store
from tests.builder.buildutil import do_build, layer_file, run_dirs, write_context

# Every RUN appends to a file in a cache mount, so a RUN that really ran leaves a line there.
TEN_STEPS = """\
FROM busybox
RUN --mount=type=cache,target=/count echo 1 >> /count/runs && echo one > /one
RUN --mount=type=cache,target=/count echo 2 >> /count/runs && echo two > /two
COPY first.txt /app/first.txt
ENV APP=/app
WORKDIR /app
COPY second.txt ./
RUN --mount=type=cache,target=/count echo 3 >> /count/runs && cat /app/second.txt > /seen
LABEL stage=final
CMD ["cat", "/seen"]
"""
PROBE = """\
FROM busybox
RUN --mount=type=cache,target=/count cat /count/runs > /runs
"""


def _runs(store: Store, tmp_path: Path) -> list[str]:
    probe = write_context(tmp_path / "probe", {"Dockerfile": PROBE})
    result, _ = do_build(store, probe, no_cache=True)
    return layer_file(store, result.image_id, "runs").decode().split()


def _step_states(out: str) -> dict[str, str]:
    """Step name -> CACHED or DONE, from plain progress."""
    names = dict(re.findall(r"^#(\d+) (\[\d+/\d+\] .*)$", out, re.M))
    ends = dict(re.findall(r"^#(\d+) (CACHED|DONE)", out, re.M))
    return {name.split("] ", 1)[1]: ends[n] for n, name in names.items()}


def test_full_cache_rebuild_starts_no_container(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"first.txt": "1", "second.txt": "2", "Dockerfile": TEN_STEPS})
    first, _ = do_build(busybox_store, ctx, tags=["ten:1"])
    assert _runs(busybox_store, tmp_path) == ["1", "2", "3"]
    again, out = do_build(busybox_store, ctx, tags=["ten:2"])
    assert again.image_id == first.image_id
    assert again.steps_run == 0
    states = _step_states(out)
    assert len(states) == 7 and all(s == "CACHED" for n, s in states.items() if not n.startswith("FROM"))
    assert _runs(busybox_store, tmp_path) == ["1", "2", "3"]  # nothing ran
    assert run_dirs(busybox_store) == []


def test_changed_file_invalidates_its_copy_and_what_follows(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"first.txt": "1", "second.txt": "2", "Dockerfile": TEN_STEPS})
    do_build(busybox_store, ctx)
    (ctx / "second.txt").write_text("changed")
    result, out = do_build(busybox_store, ctx)
    states = _step_states(out)
    assert states["RUN --mount=type=cache,target=/count echo 1 >> /count/runs && echo one > /one"] == "CACHED"
    assert states["COPY first.txt /app/first.txt"] == "CACHED"
    assert states["COPY second.txt ./"] == "DONE"
    assert states["RUN --mount=type=cache,target=/count echo 3 >> /count/runs && cat /app/second.txt > /seen"] \
        == "DONE"
    assert layer_file(busybox_store, result.image_id, "seen") == b"changed"
    assert _runs(busybox_store, tmp_path) == ["1", "2", "3", "3"]


def test_mtime_and_location_do_not_invalidate(busybox_store: Store, tmp_path: Path) -> None:
    files = {"first.txt": "1", "second.txt": "2", "Dockerfile": TEN_STEPS}
    do_build(busybox_store, write_context(tmp_path / "a", files))
    other = write_context(tmp_path / "b" / "c", files)
    result, out = do_build(busybox_store, other)
    assert result.steps_run == 0, out


def test_no_cache_reruns_and_cache_is_shared_across_stages(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
FROM busybox AS one
RUN --mount=type=cache,target=/count echo s >> /count/runs

FROM busybox AS two
RUN --mount=type=cache,target=/count echo s >> /count/runs
COPY --from=one /etc/passwd /p
"""})
    do_build(busybox_store, ctx)
    assert _runs(busybox_store, tmp_path) == ["s"]  # the second stage's identical RUN came from cache
    result, out = do_build(busybox_store, ctx, no_cache=True)
    assert "CACHED" not in out
    assert len(_runs(busybox_store, tmp_path)) == 3


def test_cache_from_an_image(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
FROM busybox
RUN --mount=type=cache,target=/count echo cf >> /count/runs && echo slow > /slow
"""})
    first, _ = do_build(busybox_store, ctx, tags=["cached:src"])
    prune_cache(busybox_store, all=True)  # forget the cache (and the cache mount)
    result, out = do_build(busybox_store, ctx, cache_from=["cached:src"])
    assert "CACHED" in out and result.steps_run == 0
    assert result.image_id == first.image_id
