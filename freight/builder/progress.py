"""Build progress in BuildKit's formats: plain (``#5 [2/4] RUN ...``), tty and quiet; and the
classic builder's (``Step 2/4 : RUN ...``, ``builder.classic``), which the API's ``POST /build`` streams.

A build reports *vertices* (``[internal] load build context``, one per step,
``exporting to image``); each is numbered when it starts and then gets log
lines (``#5 0.123 text``), status lines (``#9 writing image sha256:... done``)
and an end: ``#5 CACHED``, ``#5 DONE 0.3s`` or ``#5 ERROR: message``.
Vertices of stages building on threads interleave, as in BuildKit. The build also
reports each Dockerfile instruction as it begins and ends (``step``, ``stepped``),
which only the classic format shows.
"""

from __future__ import annotations

import sys
import threading
import time

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    from rich.text import Text

    from freight.builder.dockerfile.instructions import Dockerfile, Instruction


class Vertex:
    def __init__(self, progress: Progress, number: int, name: str) -> None:
        self.progress = progress
        self.number = number
        self.name = name
        self.started = time.monotonic()
        self.state = "running"
        self.logs: list[str] = []
        self.stamped: list[str] = []  # the logs with their time stamps, as plain output shows them
        self.statuses: list[str] = []  # its sub-steps (``writing image sha256:...``): tty's ``=> =>`` rows
        self.elapsed = 0.0

    def log(self, text: str) -> None:
        """A line of the step's own output, stamped with the time since the step began."""
        line = f"{time.monotonic() - self.started:.3f} {text}"
        self.logs.append(text)
        self.stamped.append(line)
        self.progress.logged(self, text, line)

    def status(self, text: str) -> None:
        self.statuses.append(text.removesuffix(" done"))
        self.progress.line(self, text)

    def cached(self) -> None:
        self._end("cached", "CACHED")

    def done(self) -> None:
        self._end("done", f"DONE {time.monotonic() - self.started:.1f}s")

    def error(self, message: str) -> None:
        self._end("error", f"ERROR: {message}")

    def _end(self, state: str, text: str) -> None:
        self.state = state
        self.elapsed = time.monotonic() - self.started
        self.progress.line(self, text)
        self.progress.ended(self)


class Progress:
    """Plain output (also the base for the others): one line per event."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stderr
        self.lock = threading.Lock()
        self.count = 0
        self.vertices: list[Vertex] = []
        self._last: Vertex | None = None

    def vertex(self, name: str) -> Vertex:
        with self.lock:
            self.count += 1
            v = Vertex(self, self.count, name)
            self.vertices.append(v)
        self.line(v, name)
        return v

    def line(self, v: Vertex, text: str) -> None:
        with self.lock:
            if self._last is not v and self._last is not None:
                self.write("\n")
            self._last = v
            self.write(f"#{v.number} {text}\n")

    def logged(self, v: Vertex, text: str, stamped: str) -> None:
        """A log line of ``v``: ``text``, ``stamped`` with its time."""
        self.line(v, stamped)

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def ended(self, v: Vertex) -> None:
        pass

    def close(self) -> None:
        pass

    def plan(self, df: Dockerfile, stages: list[int], target: int) -> None:
        """The build will run ``stages`` of ``df`` (``target`` last)."""

    def step(self, stage: int, instr: Instruction) -> None:
        """Instruction ``instr`` of ``stage`` (its FROM first) begins."""

    def stepped(self, stage: int, result_id: Callable[[], str]) -> None:
        """The instruction ended; ``result_id`` gives the ID of its result (only the classic
        format asks: a State's ``key`` costs time in proportion to its config)."""

    def stage_built(self, stage: int) -> None:
        """Every instruction of ``stage`` ended."""

    def built(self, image_id: str, tags: list[str]) -> None:
        """The image is stored, with ``tags``."""


class QuietProgress(Progress):
    def write(self, text: str) -> None:
        pass


class TtyProgress(Progress):
    """A live compact view (``[+] Building 1.2s (5/9)``), drawn with rich."""

    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__(out)
        from rich.console import Console
        from rich.live import Live

        self.start = time.monotonic()
        self.finished: float | None = None  # the build's time, once it ended
        self.console = Console(file=self.out, highlight=False)
        self.live = Live(console=self.console, refresh_per_second=8, transient=False,
                         get_renderable=self._render)
        self.live.start()

    def line(self, v: Vertex, text: str) -> None:
        pass

    def _render(self) -> Text:
        from rich.text import Text

        done = sum(1 for v in self.vertices if v.state != "running")
        ok = self.finished is not None and not any(v.state == "error" for v in self.vertices)
        took = self.finished if self.finished is not None else time.monotonic() - self.start
        text = Text(f"[+] Building {took:.1f}s ({done}/{len(self.vertices)}){' FINISHED' if ok else ''}\n",
                    style="bold blue")
        width = max(self.console.width - 10, 20)
        for v in list(self.vertices):
            seconds = v.elapsed if v.state != "running" else time.monotonic() - v.started
            mark = "ERROR" if v.state == "error" else f"{seconds:.1f}s"
            style = {"error": "red", "running": "yellow"}.get(v.state, "blue")
            name = f"CACHED {v.name}" if v.state == "cached" else v.name  # BuildKit's place for it
            name = name if len(name) <= width - 4 else name[: width - 7] + "..."
            text.append(f" => {name:<{width - 4}} {mark:>6}\n", style=style)
            for status in v.statuses:
                shown = status if len(status) <= width - 7 else status[: width - 10] + "..."
                text.append(f" => => {shown:<{width - 7}} {'0.0s':>6}\n", style=style)
            if v.state in ("running", "error"):
                for log in v.logs[-6:]:
                    text.append(f" => => # {log[: width - 6]}\n", style="dim")
        return text

    def close(self) -> None:
        self.finished = time.monotonic() - self.start
        self.live.refresh()
        self.live.stop()


def make_progress(mode: str, out: TextIO | None = None) -> Progress:
    """``auto`` is ``tty`` on a terminal and ``plain`` elsewhere."""
    stream = out if out is not None else sys.stderr
    if mode == "quiet":
        return QuietProgress(stream)
    if mode == "tty" or (mode == "auto" and stream.isatty()):
        return TtyProgress(stream)
    return Progress(stream)
