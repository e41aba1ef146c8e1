"""What a build takes, holds and gives: its options, the state its stages share, each
stage's image so far, and how it fails.

``BuildOptions`` are the flags of ``freight build``; ``BuildResult`` what it gives back;
``BuildError`` a failed build (Docker prints the instruction's lines and exits 1).
``BuildSession`` is one build's shared state, read by every step: the store, the
context, the parsed Dockerfile, the progress display, the global ARGs, the base
images resolved so far, the stages built so far and the step counts. ``State`` is a
stage's image so far (config, layers, history, time), changed in place by its steps.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import ChainMap
from pathlib import Path

from freight.builder.cache import DB_LOCK, cache_key
from freight.builder.changes import ConfigEnv
from freight.builder.fsview import RootFS
from freight.builder.timestamps import LAYER_RULES
from freight.errors import FreightError
from freight.image.canonical import rfc3339
from freight.image.digest import chain_ids
from freight.image.platform import host_platform
from freight.record import Record, field

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO, TextIO

    from freight.builder.context import BuildContext
    from freight.builder.dockerfile.expansion import ArgScope
    from freight.builder.dockerfile.instructions import Dockerfile, Instruction
    from freight.builder.dockerfile.parser import StageGraph
    from freight.builder.lockfile import Lock
    from freight.builder.progress import Progress
    from freight.store.images import Image
    from freight.store.store import Store

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BuildError(FreightError):
    """A failed build: Docker prints the instruction's lines and exits 1."""

    exit_code = 1

    def __init__(self, message: str, instr: Instruction | None = None, vertex: str = "",
                 logs: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.instr = instr
        self.vertex = vertex
        self.logs = logs or []
        self.text = ""  # the Dockerfile, for the excerpt in the report


class RunFailed(BuildError):
    """A RUN step whose command exited ``code``; ``command`` is what it ran."""

    def __init__(self, message: str, instr: Instruction, vertex: str, logs: list[str], command: list[str],
                 code: int) -> None:
        super().__init__(message, instr, vertex, logs)
        self.command = command
        self.code = code


class BuildOptions(Record):
    """What to build: the flags of ``freight build``."""

    context: str = "."
    dockerfile: str | None = None
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    platform: str = ""
    progress: str = "auto"              # auto, plain, tty, quiet; classic (the API's)
    network: str = "default"            # default, host, none
    runtime: str = ""                   # the OCI runtime of RUN steps ("": the configured default)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {"src"|"env": ...}
    cache_from: list[str] = field(default_factory=list)
    outputs: list[dict[str, str]] = field(default_factory=list)      # {"type": ..., "dest": ...}
    source_date_epoch: int | None = None
    locked: bool = False                # fail unless the lock file holds every image and URL, up to date
    timestamp: str = ""                 # "" (the inputs' time, freight.builder.timestamps), "now", or seconds
    provenance: bool = True             # keep a provenance statement beside the image (builder.provenance)
    stdin: BinaryIO | None = None
    out: TextIO | None = None           # progress stream (stderr)


class BuildResult(Record):
    image_id: str
    tags: list[str]
    dockerfile_text: str = ""
    steps_run: int = 0
    steps_cached: int = 0
    images: list[str] = field(default_factory=list)  # the IDs of the images it read (FROM, --from)


class Layer(Record):
    descriptor: dict[str, Any]
    diff_id: str


class State(Record, frozen=False):
    """A stage's image so far: config, layers, history and the time it stands for.

    The steps of a stage change one State in place (a stage that builds on another starts
    from a ``copy()``); ``env`` indexes the config's Env, so neither an instruction nor a
    variable costs time in proportion to all those before it. Make one with ``new_state``.
    """

    config: dict[str, Any]
    env: ConfigEnv
    layers: list[Layer]
    history: list[dict[str, Any]]
    created: str
    platform: dict[str, str]

    def key(self) -> str:
        return cache_key({"config": self.config, "diff_ids": [layer.diff_id for layer in self.layers]})

    def chains(self) -> list[str]:
        return chain_ids([layer.diff_id for layer in self.layers])

    def copy(self) -> State:
        return new_state(json.loads(json.dumps(self.config)), list(self.layers), list(self.history), self.created,
                         dict(self.platform))


def new_state(config: dict[str, Any], layers: list[Layer], history: list[dict[str, Any]], created: str,
              platform: dict[str, str] | None = None) -> State:
    """A State for ``config`` (the host's platform unless ``platform``)."""
    return State(config, ConfigEnv(config), layers, history, created,
                 host_platform() if platform is None else platform)


class BuildSession:
    """One build's shared state (see the module docstring). ``global_env`` holds the
    values FROM lines see (``platform_args`` and the global ARGs), ``graph`` what each
    stage reads; ``stage_results`` maps each scheduled stage to a call that waits for
    its State; ``images`` holds the base and ``COPY --from`` images resolved so far, by
    name (and platform)."""

    def __init__(self, store: Store, opts: BuildOptions, ctx: BuildContext, df: Dockerfile, progress: Progress,
                 global_env: dict[str, str], graph: StageGraph) -> None:
        self.store = store
        self.opts = opts
        self.ctx = ctx
        self.df = df
        self.progress = progress
        # The build's time (freight.builder.timestamps): set once the base images are
        # resolved; None with ``--timestamp now``.
        self.epoch = opts.source_date_epoch
        self.lock = DB_LOCK
        self.images: dict[str, Image] = {}
        self.lock_file: Lock | None = None  # the Dockerfile's lock file (freight.builder.lockfile)
        self.stage_results: dict[int, Callable[[], State]] = {}
        self.steps_run = 0
        self.steps_cached = 0
        self.global_env = global_env
        self.graph = graph
        self.context_vertex_done = False
        self._dirs = itertools.count()

    def step_key(self, parts: dict[str, Any]) -> str:
        """The cache key of a step that makes a layer: ``parts`` with the build's time and
        layer rules, which change the layer's bytes too."""
        time = self.epoch if self.epoch is not None else "now"
        return cache_key({**parts, "time": time, "rules": LAYER_RULES})

    def stage_state(self, index: int) -> State:
        """The State stage ``index`` ends with, once built."""
        result = self.stage_results.get(index)
        if result is None:
            raise BuildError(f"stage {index} was not built")
        return result()

    def stage_label(self, index: int) -> str:
        if len(self.df.stages) == 1:
            return ""
        return self.df.stages[index].name or f"stage-{index}"

    def env(self, state: State, scope: ArgScope) -> ChainMap[str, str]:
        """Values for expansion: the stage's ENV, then its ARGs (platform ARGs only once
        declared). A live view, not a copy: expand before applying what changes them."""
        return ChainMap(state.env.values, scope.values)

    def history(self, state: State, created_by: str, empty: bool, created: str | None = None) -> None:
        """Add a history entry to ``state`` (the time of the state below unless ``created``)."""
        if self.epoch is not None:
            created = rfc3339(self.epoch)
        entry: dict[str, Any] = {"created": created or state.created, "created_by": created_by,
                                 "comment": "buildkit.dockerfile.v0"}
        if empty:
            entry["empty_layer"] = True
        state.history.append(entry)
        if created:
            state.created = created

    def rootfs(self, state: State) -> RootFS:
        return RootFS([self.store.snapshots.path(c) for c in state.chains()])

    def new_dir(self, kind: str) -> Path:
        """A new private directory for a step's work, in this process's own temporary
        directory of the store (so no name can be taken already)."""
        path = Path(self.store.scratch_dir, f"build-{kind}-{next(self._dirs)}")
        os.mkdir(path, 0o700)
        return path


def platform_args(platform: str) -> dict[str, str]:
    """TARGETPLATFORM, BUILDPLATFORM and their parts: ``build --platform``, else the host's."""
    plat = host_platform()
    if platform:
        os_, _, arch = platform.partition("/")
        plat = {"os": os_, "architecture": arch.partition("/")[0] or plat["architecture"]}
    text = f"{plat['os']}/{plat['architecture']}"
    values = {}
    for prefix in ("TARGET", "BUILD"):
        values.update({f"{prefix}PLATFORM": text, f"{prefix}OS": plat["os"],
                       f"{prefix}ARCH": plat["architecture"], f"{prefix}VARIANT": plat.get("variant", "")})
    return values
