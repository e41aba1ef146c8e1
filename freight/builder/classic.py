"""The classic builder's output (Docker's builds with ``DOCKER_BUILDKIT=0``), which the API's
``POST /build`` streams and the docker CLI and docker-py read::

    Step 1/3 : FROM busybox
     ---> 6fd955f66c23
    Step 2/3 : RUN echo built > /x
     ---> Running in 1f2e3d4c5b6a
    Removing intermediate container 1f2e3d4c5b6a
     ---> 9a8b7c6d5e4f
    Step 3/3 : CMD cat /x
     ---> 0a1b2c3d4e5f
    Successfully built 0a1b2c3d4e5f
    Successfully tagged app:1

Steps are numbered over the stages the build runs, in Dockerfile order, global ARGs
first, as Docker numbers them; stages that build at the same time (on threads) are
shown one after the other: a stage's lines wait until the stages before it ended.
The ID after a step is its result's (the digest the build cache knows it by; a FROM's
base image's ID), the last one the image's. A RUN step's container is named by an ID
of its own, as Docker's intermediate containers are; freight runs no container for an
instruction that only changes the config, so those show their result alone (Docker
runs and removes one for each).
"""

from __future__ import annotations

import os
import threading

from freight.builder.progress import Progress, Vertex
from freight.image import reference
from freight.record import Record

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    from freight.builder.dockerfile.instructions import Dockerfile, Instruction


class _StepVertex(Record, frozen=False):
    """A vertex of an instruction's: its stage, the instruction's keyword, and for a RUN
    the ID its container is shown with and whether ``Running in`` was shown."""

    stage: int
    keyword: str
    container: str
    announced: bool = False


class ClassicProgress(Progress):
    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__(out)
        self._building = threading.local()  # the stage and keyword of the thread's instruction
        self._total = 0
        self._next: dict[int, int] = {}  # each stage's next step number
        self._order: list[int] = []  # the stages, in the order they are shown
        self._shown = 0  # where in ``_order`` the stage shown as it builds is
        self._waiting: dict[int, list[str]] = {}  # lines of later stages
        self._ended: set[int] = set()
        self._target = -1
        self._held: str | None = None  # the target's last `` ---> ID``: the image's ID replaces it
        self._vertices: dict[Vertex, _StepVertex] = {}

    def plan(self, df: Dockerfile, stages: list[int], target: int) -> None:
        self._order, self._target = stages, target
        self._total = len(df.global_args) + sum(1 + len(df.stages[i].instructions) for i in stages)
        number = 1
        for arg in df.global_args:
            self.write(f"Step {number}/{self._total} : {arg.original.strip()}\n")
            number += 1
        for i in stages:
            self._next[i] = number
            number += 1 + len(df.stages[i].instructions)

    def step(self, stage: int, instr: Instruction) -> None:
        self._building.step = (stage, instr.keyword)
        if stage == self._target and self._held is not None:
            self._emit(stage, self._held)
            self._held = None
        number = self._next[stage]
        self._next[stage] += 1
        self._emit(stage, f"Step {number}/{self._total} : {instr.original.strip()}")

    def stepped(self, stage: int, result_id: Callable[[], str]) -> None:
        self._building.step = None
        line = f" ---> {_short(result_id())}"
        if stage == self._target:
            self._held = line
        else:
            self._emit(stage, line)

    def stage_built(self, stage: int) -> None:
        with self.lock:
            self._ended.add(stage)
            while self._shown < len(self._order) and self._order[self._shown] in self._ended:
                self._shown += 1
                if self._shown < len(self._order):
                    for line in self._waiting.pop(self._order[self._shown], []):
                        self.write(line + "\n")

    def built(self, image_id: str, tags: list[str]) -> None:
        lines = [f" ---> {_short(image_id)}", f"Successfully built {_short(image_id)}"]
        lines += [f"Successfully tagged {reference.parse(tag).familiar()}" for tag in tags]
        self.write("".join(line + "\n" for line in lines))

    def close(self) -> None:
        """Show what stages still wait to show (the build failed before they could be)."""
        with self.lock:
            for stage in self._order:
                for line in self._waiting.pop(stage, []):
                    self.write(line + "\n")

    def vertex(self, name: str) -> Vertex:
        v = super().vertex(name)
        building = getattr(self._building, "step", None)
        if building is not None:
            with self.lock:
                self._vertices[v] = _StepVertex(building[0], building[1], os.urandom(6).hex())
        return v

    def line(self, v: Vertex, text: str) -> None:
        pass  # the vertices' own lines are BuildKit's

    def logged(self, v: Vertex, text: str, stamped: str) -> None:
        step = self._vertices.get(v)
        if step is not None:
            self._announce(step)
            self._emit(step.stage, text)

    def ended(self, v: Vertex) -> None:
        with self.lock:
            step = self._vertices.pop(v, None)
        if step is None:
            return
        if v.state == "cached":
            self._emit(step.stage, " ---> Using cache")
        elif v.state == "done" and step.keyword == "RUN":
            self._announce(step)
            self._emit(step.stage, f"Removing intermediate container {step.container}")

    def _announce(self, step: _StepVertex) -> None:
        if step.keyword == "RUN" and not step.announced:
            step.announced = True
            self._emit(step.stage, f" ---> Running in {step.container}")

    def _emit(self, stage: int, line: str) -> None:
        with self.lock:
            if self._shown < len(self._order) and self._order[self._shown] == stage:
                self.write(line + "\n")
            else:
                self._waiting.setdefault(stage, []).append(line)


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]
