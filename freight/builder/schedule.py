"""Stage scheduling: the stages a target needs, each on its own thread, in dependency order.

``build_stages`` resolves the base images of the stages the target needs
(``freight.builder.bases``), then builds each stage (``freight.builder.steps``)
once the stages it reads are built: a lone stage on the calling thread,
several on threads of their own, so independent stages build at the same time
and their progress interleaves, as in BuildKit. A stage may wait on one whose
thread has not started yet; a failure is raised to whoever waits on the stage.
"""

from __future__ import annotations

import functools
import threading

from freight.builder.bases import resolve_bases
from freight.builder.state import BuildSession, State
from freight.builder.steps import build_stage
from freight.builder.timestamps import NOW, bases_epoch

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable


class _StageThread(threading.Thread):
    """A stage building on its own thread; ``result()`` waits and re-raises its error."""

    def __init__(self, work: Callable[[], State]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.value: State | None = None
        self.failure: BaseException | None = None
        self.finished = threading.Event()

    def run(self) -> None:
        try:
            self.value = self.work()
        except BaseException as err:  # handed to whoever waits on this stage
            self.failure = err
        finally:
            self.finished.set()

    def result(self) -> State:
        self.finished.wait()
        if self.failure is not None:
            raise self.failure
        assert self.value is not None
        return self.value


def build_stages(session: BuildSession, target: int) -> State:
    """Build the stages ``target`` needs; the State the target ends with."""
    stages = session.graph.needed(target)
    session.progress.plan(session.df, stages, target)
    resolve_bases(session, stages)
    if session.epoch is None and session.opts.timestamp != NOW:
        session.epoch = bases_epoch(session.images.values())
    ignore = session.progress.vertex("[internal] load .dockerignore")
    patterns = session.ctx.patterns
    size = len("\n".join(p.text for p in patterns)) if patterns else 2
    ignore.status(f"transferring context: {size}B done")
    ignore.done()
    if len(stages) == 1:
        return build_stage(session, target)
    threads = {i: _StageThread(functools.partial(_after_dependencies, session, i)) for i in stages}
    session.stage_results.update({i: thread.result for i, thread in threads.items()})
    for thread in threads.values():
        thread.start()
    try:
        return threads[target].result()
    finally:
        for thread in threads.values():
            thread.join()


def _after_dependencies(session: BuildSession, index: int) -> State:
    for dep in session.graph.dependencies(index):
        session.stage_state(dep)
    return build_stage(session, index)
