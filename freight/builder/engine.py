"""The build engine: ``build(store, BuildOptions) -> BuildResult``.

It parses the Dockerfile, works out which stages the target needs, builds
independent stages on threads and writes the final image to the store.
Every step that makes a layer (RUN, COPY, ADD, WORKDIR) goes through the
build cache (``freight.builder.cache``); config instructions change only the
config and add an ``empty_layer`` history entry, as BuildKit writes them.

File times: COPY and ADD give every new file and directory one fixed mtime,
``SOURCE_DATE_EPOCH`` when set, else 2000-01-01T00:00:00Z (``copy.FIXED_MTIME``),
and root ownership unless ``--chown`` (BuildKit keeps the context's mtimes,
so its COPY layers change with every checkout); RUN layers keep the times
the command gave its files, clamped to ``SOURCE_DATE_EPOCH`` when set.

Timestamps (reproducibility): with ``SOURCE_DATE_EPOCH`` every history
entry and the config's ``created`` are that time and every file in a new
layer is clamped to it. Without it a RUN step's history entry carries the
time the step really ran (kept in its cache entry, so a fully cached rebuild
gives the same image), and every other step inherits the time of the state
below it (the base image's ``created``, or the last RUN's): a build whose
layers come only from COPY/ADD/WORKDIR therefore gives the same image ID on
any machine, from any checkout, at any time. (BuildKit uses the wall clock
here, so its image IDs differ between such builds.)

Platforms: a stage's base image must be for its ``FROM --platform`` (else ``build
--platform``, when given): a local image for another platform is pulled for it, and when
none can be had the build fails as BuildKit's does; a platform containerd cannot parse is
refused; ``scratch`` takes any. Stages that read each other (``COPY --from``, ``RUN
--mount from=``, ``FROM``) are refused before anything runs, with BuildKit's message.

Limits: ``--cache-from IMAGE`` reuses the layers of RUN steps whose history
line and layers below match (COPY/ADD layers depend on content and are
rebuilt); cache mounts are always shared (``sharing=`` is ignored);
``RUN --mount=type=ssh`` and ``RUN --security=insecure`` (an entitlement) are refused.
"""

from __future__ import annotations

import copy
import json
import os
import posixpath
import threading
import time
from collections import ChainMap, namedtuple  # not dataclasses: see docs/architecture.md, "Start-up time"
from pathlib import Path

from freight.builder import cache
from freight.builder.changes import DEFAULT_SHELL, ConfigEnv, apply_expanded
from freight.builder.context import BuildContext, HashCache, Tree, open_context
from freight.builder.copyadd import (
    FIXED_MTIME,
    CopyOptions,
    LayerDir,
    SourceNotFound,
    copy_sources,
    fetch_url,
    match_sources,
)
from freight.builder.fsview import RootFS
from freight.builder.gitsource import GitSource, is_git_url, parse_git_source, redact
from freight.builder.gitsource import checkout as checkout_git
from freight.builder.gitsource import resolve as resolve_git
from freight.builder.parser import (
    ArgScope,
    Dockerfile,
    DockerfileError,
    Instruction,
    Stage,
    expand_instruction,
    global_scope,
    parse,
    parse_instructions,
)
from freight.builder.progress import Progress, Vertex, make_progress
from freight.errors import FreightError, InvalidArgument, NotFound
from freight.image import platform as platforms
from freight.image import reference
from freight.image.canonical import image_config, layer_descriptor, rfc3339
from freight.image.digest import chain_ids
from freight.image.platform import host_platform

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, BinaryIO, TextIO

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_LAYER_STEPS = ("RUN", "COPY", "ADD", "WORKDIR")


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


class BuildOptions:
    """What to build: the flags of ``freight build``."""

    def __init__(self, *, context: str = ".", dockerfile: str | None = None, tags: list[str] | None = None,
                 build_args: dict[str, str] | None = None, target: str = "", no_cache: bool = False,
                 pull: bool = False, labels: dict[str, str] | None = None, platform: str = "",
                 progress: str = "auto", network: str = "default",
                 secrets: dict[str, dict[str, str]] | None = None, cache_from: list[str] | None = None,
                 outputs: list[dict[str, str]] | None = None, source_date_epoch: int | None = None,
                 stdin: BinaryIO | None = None, out: TextIO | None = None) -> None:
        self.context = context
        self.dockerfile = dockerfile
        self.tags = tags or []
        self.build_args = build_args or {}
        self.target = target
        self.no_cache = no_cache
        self.pull = pull
        self.labels = labels or {}
        self.platform = platform
        self.progress = progress                # auto, plain, tty, quiet
        self.network = network                  # default, host, none
        self.secrets = secrets or {}            # id -> {"src"|"env": ...}
        self.cache_from = cache_from or []
        self.outputs = outputs or []            # {"type": ..., "dest": ...}
        self.source_date_epoch = source_date_epoch
        self.stdin = stdin
        self.out = out                          # progress stream (stderr)


class BuildResult(namedtuple("BuildResult", "image_id tags dockerfile_text steps_run steps_cached",
                             defaults=("", 0, 0))):
    __slots__ = ()
    image_id: str
    tags: list[str]
    dockerfile_text: str
    steps_run: int
    steps_cached: int


class Layer(namedtuple("Layer", "descriptor diff_id")):
    __slots__ = ()
    descriptor: dict[str, Any]
    diff_id: str


class State:
    """A stage's image so far: config, layers, history and the time it stands for.

    The steps of a stage change one State in place (a stage that builds on another starts
    from a ``copy()``); ``env`` indexes the config's Env, so neither an instruction nor a
    variable costs time in proportion to all those before it.
    """

    def __init__(self, config: dict[str, Any], layers: list[Layer], history: list[dict[str, Any]], created: str,
                 platform: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = ConfigEnv(config)
        self.layers = layers
        self.history = history
        self.created = created
        self.platform = host_platform() if platform is None else platform

    def key(self) -> str:
        return cache.cache_key({"config": self.config, "diff_ids": [l.diff_id for l in self.layers]})

    def chains(self) -> list[str]:
        return chain_ids([l.diff_id for l in self.layers])

    def copy(self) -> State:
        return State(json.loads(json.dumps(self.config)), list(self.layers),
                     list(self.history), self.created, dict(self.platform))


# --------------------------------------------------------------------------
# helpers


class _StageThread(threading.Thread):
    """A stage building on its own thread; ``result()`` waits and re-raises its error
    (a stage may wait on one whose thread has not started yet)."""

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


def _first_reaching_a_cycle(edges: dict[int, list[int]]) -> int | None:
    """The first node (in order) from which a cycle can be reached (BuildKit's
    hasCircularDependency), by a depth-first search kept on a list, not on Python's stack."""
    visited: set[int] = set()
    for start in sorted(edges):
        if start in visited:
            continue
        visited.add(start)
        path = {start}
        stack = [(start, iter(edges[start]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.discard(node)
            elif child in path:
                return start
            elif child not in visited:
                visited.add(child)
                path.add(child)
                stack.append((child, iter(edges[child])))
    return None


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def _go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()`` for whole milliseconds and up: 1h2m3s, 1.5s, 300ms."""
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:g}ms"
    seconds = ns / 1_000_000_000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    return f"{int(minutes)}m{text}" if minutes else text


def _resolve_owner(spec: str, fs: RootFS | None) -> tuple[int, int]:
    """``--chown=user[:group]`` against the image's /etc/passwd and /etc/group."""
    user, _, group = spec.partition(":")

    def lookup(name: str, db: str, what: str) -> tuple[int, int | None]:
        if name.isascii() and name.isdigit() and len(name) < 11 and int(name) < 1 << 32:
            return int(name), None
        path = fs.real(fs.resolve(db)) if fs is not None else None
        if path and os.path.isfile(path):
            with open(path, errors="replace") as f:
                for line in f:
                    parts = line.rstrip("\n").split(":")
                    if len(parts) >= 3 and parts[0] == name:
                        return int(parts[2]), int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None
        raise InvalidArgument(f"unable to convert uid/gid chown string to host mapping: "
                              f"can't find {what} for {name}")

    uid, _primary = lookup(user, "etc/passwd", "uid")
    gid = lookup(group, "etc/group", "gid")[0] if group else uid
    return uid, gid


def _remove(path: str | Path) -> None:
    """Remove a step's work directory, whatever is left in it (``shutil`` is imported only
    when a step ran: a fully cached build never needs it)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _dir_size(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(root, name)).st_size
    return total


# --------------------------------------------------------------------------
# the builder


class Builder:
    def __init__(self, store: Any, opts: BuildOptions, ctx: BuildContext, df: Dockerfile,
                 progress: Progress) -> None:
        self.store = store
        self.opts = opts
        self.ctx = ctx
        self.df = df
        self.progress = progress
        self.epoch = opts.source_date_epoch
        self.lock = cache.DB_LOCK
        self.stage_futures: dict[int, _StageThread] = {}
        self.images: dict[str, Any] = {}
        self.steps_run = 0
        self.steps_cached = 0
        self.platform_args = self._platform_args()
        self.global_env = global_scope(df, opts.build_args, self.platform_args)
        self.context_vertex_done = False

    # -- platform and stages --------------------------------------------

    def _platform_args(self) -> dict[str, str]:
        plat = host_platform()
        if self.opts.platform:
            os_, _, arch = self.opts.platform.partition("/")
            plat = {"os": os_, "architecture": arch.partition("/")[0] or plat["architecture"]}
        text = f"{plat['os']}/{plat['architecture']}"
        values = {}
        for prefix in ("TARGET", "BUILD"):
            values.update({f"{prefix}PLATFORM": text, f"{prefix}OS": plat["os"],
                           f"{prefix}ARCH": plat["architecture"], f"{prefix}VARIANT": plat.get("variant", "")})
        return values

    def stage_index(self, ref: str, by_number: bool = True) -> int | None:
        """A stage by name, or (``COPY --from``, not FROM) by number."""
        ref = ref.lower()
        for i, stage in enumerate(self.df.stages):
            if stage.name and stage.name == ref:
                return i
        if by_number and ref.isascii() and ref.isdigit() and len(ref) < 10 and int(ref) < len(self.df.stages):
            return int(ref)
        return None

    def base_word(self, stage: Stage) -> str:
        return expand_instruction(stage.from_, self.global_env, self.df.escape).args[0]

    def reads(self, index: int) -> set[int]:
        """Stages that stage ``index`` reads: its FROM, COPY --from, RUN --mount from= (itself
        too, when it names itself)."""
        stage = self.df.stages[index]
        deps: set[int] = set()
        base = self.stage_index(self.base_word(stage), False)
        if base is not None and base < index:
            deps.add(base)
        for instr in stage.instructions:  # --from and from= are never expanded (BuildKit's rule)
            refs = []
            if instr.keyword in ("COPY", "ADD"):
                refs = instr.flags.get("from", [])
            if instr.keyword == "RUN":
                refs = [m.from_ for m in instr.mounts() if m.from_]
            for ref in refs:
                dep = self.stage_index(ref)
                if dep is not None:
                    deps.add(dep)
        return deps

    def dependencies(self, index: int) -> set[int]:
        return self.reads(index) - {index}

    def check_cycles(self) -> None:
        """Refuse stages that read each other, as BuildKit does before building anything: the
        error names the first stage, in Dockerfile order, from which such a cycle is reached."""
        reads = {i: sorted(self.reads(i)) for i in range(len(self.df.stages))}
        start = _first_reaching_a_cycle(reads)
        if start is not None:
            name = self.df.stages[start].name or f"stage-{start}"
            raise BuildError(f"circular dependency detected on stage: {name}")

    def needed(self, target: int) -> list[int]:
        order: list[int] = []
        todo = [target]
        while todo:
            i = todo.pop()
            if i in order:
                continue
            order.append(i)
            todo += sorted(self.dependencies(i))
        return sorted(order)

    def stage_label(self, index: int) -> str:
        if len(self.df.stages) == 1:
            return ""
        return self.df.stages[index].name or f"stage-{index}"

    # -- running stages ---------------------------------------------------

    def build_stages(self, target: int) -> State:
        """Build the stages ``target`` needs, each on its own thread once its dependencies are done."""
        stages = self.needed(target)
        self._resolve_bases(stages)
        ignore = self.progress.vertex("[internal] load .dockerignore")
        size = len("\n".join(p.text for p in self.ctx.patterns)) if self.ctx.patterns else 2
        ignore.status(f"transferring context: {size}B done")
        ignore.done()
        if len(stages) == 1:
            return self.build_stage(target)
        for i in stages:
            self.stage_futures[i] = _StageThread(lambda i=i: self._stage_after_deps(i))
        for i in stages:
            self.stage_futures[i].start()
        try:
            return self.stage_futures[target].result()
        finally:
            for i in stages:
                self.stage_futures[i].join()

    def _stage_after_deps(self, index: int) -> State:
        for dep in self.dependencies(index):
            self.stage_futures[dep].result()
        return self.build_stage(index)

    def stage_state(self, index: int) -> State:
        future = self.stage_futures.get(index)
        if future is None:
            raise BuildError(f"stage {index} was not built")
        return future.result()

    def stage_platform(self, stage: Stage) -> dict[str, str] | None:
        """The platform a stage's base must be for: its ``FROM --platform``, else ``build
        --platform``; None when neither is given (any local image will do)."""
        text = expand_instruction(stage.from_, self.global_env, self.df.escape).flag("platform") or self.opts.platform
        if not text:
            return None
        try:
            return platforms.parse(text)
        except InvalidArgument as err:
            raise BuildError(f"failed to parse platform {text}: {err}", stage.from_) from None

    def _base_key(self, word: str, wanted: dict[str, str] | None) -> str:
        return word if wanted is None else f"{word} for {platforms.text(wanted)}"

    def _resolve_bases(self, stages: list[int]) -> None:
        for i in stages:
            stage = self.df.stages[i]
            word, wanted = self.base_word(stage), self.stage_platform(stage)
            key = self._base_key(word, wanted)
            if word == "scratch" or self.stage_index(word, False) is not None or key in self.images:
                continue
            v = self.progress.vertex(f"[internal] load metadata for {self._normalised(word)}")
            try:
                self.images[key] = self.resolve_image(word, self.opts.pull, wanted)
            except FreightError as err:
                v.error(str(err))
                raise BuildError(str(err), stage.from_) from None
            v.done()

    @staticmethod
    def _normalised(word: str) -> str:
        try:
            return str(reference.parse(word))
        except FreightError:
            return word

    def resolve_image(self, word: str, pull: bool = False, wanted: dict[str, str] | None = None) -> Any:
        """A local image (for the ``wanted`` platform when given), pulled when missing (always
        with ``--pull``) if freight can pull."""
        ref = self._normalised(word)
        with self.lock:
            if not pull:
                try:
                    img = self.store.resolve_image(word)
                except NotFound:
                    img = None
                if img is not None and (wanted is None or platforms.matches(img.config, wanted)):
                    return img
            try:
                from freight.registry.progress import Reporter
                from freight.registry.pull import pull as pull_image
            except ImportError:
                if pull:
                    return self.store.resolve_image(word)
                raise NotFound(f"{word}: failed to resolve source metadata for {ref}: {ref}: not found") from None
            try:
                img = pull_image(self.store, word, wanted or self.opts.platform or None, Reporter())
            except FreightError as err:
                raise NotFound(f"{word}: failed to resolve source metadata for {ref}: {err}") from None
            if wanted is not None and not platforms.matches(img.config, wanted):
                raise NotFound(f"{word}: failed to resolve source metadata for {ref}: "
                               "no match for platform in manifest: not found")
            return img

    def base_state(self, index: int) -> State:
        stage = self.df.stages[index]
        word = self.base_word(stage)
        dep = self.stage_index(word, False)
        if dep is not None and dep < index:
            return self.stage_state(dep).copy()
        if word == "scratch":  # for any --platform, as BuildKit in Docker 20.10 builds it
            return State({"Env": [DEFAULT_PATH]}, [], [], rfc3339(self.epoch or 0))
        img = self.images[self._base_key(word, self.stage_platform(stage))]
        config = json.loads(json.dumps(img.config))
        layers = [Layer(desc, diff) for desc, diff in zip(img.layers, img.diff_ids)]
        inner = config.get("config") or {}
        if not any(e.startswith("PATH=") for e in inner.get("Env") or []):
            inner["Env"] = [DEFAULT_PATH] + list(inner.get("Env") or [])
        plat = {k: config[k] for k in ("os", "architecture", "variant") if k in config}
        return State(inner, layers, list(config.get("history") or []),
                     config.get("created") or rfc3339(0), plat or host_platform())

    def build_stage(self, index: int) -> State:
        stage = self.df.stages[index]
        state = self.base_state(index)
        instructions = list(stage.instructions)
        triggers = state.config.pop("OnBuild", None) or []
        if triggers:
            instructions = parse_instructions("\n".join(triggers), self.df.filename) + instructions
        total = sum(1 for i in instructions if i.keyword in _LAYER_STEPS) + 1
        label = self.stage_label(index)
        prefix = f"{label} " if label else ""
        self.progress.vertex(f"[{prefix}1/{total}] FROM {self._from_name(stage)}").done()
        scope = ArgScope(self.global_env, self.opts.build_args)
        number = 1
        for instr in instructions:
            name = ""
            if instr.keyword in _LAYER_STEPS:
                number += 1
                name = f"[{prefix}{number}/{total}] {instr.original.strip()}"
            state = self.step(state, instr, scope, name, index)
        return state

    def _from_name(self, stage: Stage) -> str:
        word = self.base_word(stage)
        if self.stage_index(word, False) is not None or word == "scratch":
            return word
        return self._normalised(word)

    # -- steps ------------------------------------------------------------

    def env(self, state: State, scope: ArgScope) -> Mapping[str, str]:
        """Values for expansion: the stage's ENV, then its ARGs (platform ARGs only once
        declared). A live view, not a copy: expand before applying what changes them."""
        return ChainMap(state.env.values, scope.values)

    def history(self, state: State, created_by: str, empty: bool, created: str | None = None) -> None:
        if self.epoch is not None:
            created = rfc3339(self.epoch)
        entry: dict[str, Any] = {"created": created or state.created, "created_by": created_by,
                                 "comment": "buildkit.dockerfile.v0"}
        if empty:
            entry["empty_layer"] = True
        state.history.append(entry)
        if created:
            state.created = created

    def step(self, state: State, instr: Instruction, scope: ArgScope, name: str, index: int) -> State:
        k = instr.keyword
        if k == "ARG":
            env = self.env(state, scope)
            shown = expand_instruction(instr, env, self.df.escape)
            scope.declare(instr, env, self.df.escape)
            self.history(state, "ARG " + " ".join(shown.args), True)
            return state
        if k == "RUN":
            return self.run_step(state, instr, scope, name)
        if k in ("COPY", "ADD"):
            return self.copy_step(state, instr, scope, name)
        if k == "MAINTAINER":
            self.history(state, f"MAINTAINER {' '.join(instr.args)}", True)
            return state
        x = expand_instruction(instr, self.env(state, scope), self.df.escape)
        apply_expanded(state.config, x, state.env)
        if k in ("CMD", "ENTRYPOINT") and instr.command().prepend_shell:
            state.config["ArgsEscaped"] = True  # as BuildKit marks a shell-form command
        if k == "WORKDIR":
            return self.workdir_step(state, instr, name)
        self.history(state, self._config_created_by(x, state.config), True)
        return state

    def _config_created_by(self, x: Instruction, config: dict[str, Any]) -> str:
        """The history line of an expanded config instruction ``x``, as BuildKit writes it."""
        k = x.keyword
        if k in ("ENV", "LABEL"):
            return f"{k} " + " ".join(f"{a}={b}" for a, b in x.key_values())
        if k in ("CMD", "ENTRYPOINT"):
            return f"{k} {_go_list(config.get('Cmd' if k == 'CMD' else 'Entrypoint') or [])}"
        if k == "EXPOSE":
            return "EXPOSE map[" + " ".join(f"{p}:{{}}" for p in sorted(config.get("ExposedPorts") or {})) + "]"
        if k in ("VOLUME", "SHELL"):
            return f"{k} [{' '.join(x.args)}]"
        if k == "HEALTHCHECK":
            check = config["Healthcheck"]
            times = " ".join(f'"{_go_duration(check.get(f, 0))}"'
                             for f in ("Interval", "Timeout", "StartPeriod", "StartInterval"))
            retries = check.get("Retries", 0)
            return f"HEALTHCHECK &{{{_go_list(check['Test'])} {times} '\\x{retries:02x}'}}"
        if k == "ONBUILD":
            return f"ONBUILD {x.onbuild_expression()}"
        return f"{k} {' '.join(x.args)}"

    # -- layer steps ------------------------------------------------------

    def _cached_layer(self, state: State, key: str, v: Vertex) -> State | None:
        """Apply a cache hit to ``state``, or None on a miss."""
        if self.opts.no_cache:
            return None
        hit = cache.lookup(self.store, key)
        if hit is None:
            return None
        if hit.get("empty"):
            v.cached()
            self.steps_cached += 1
            return self._with_result(state, hit)
        if not self.store.blobs.has(hit["blob"]):
            return None
        chains = chain_ids([l.diff_id for l in state.layers] + [hit["diff_id"]])
        if not self.store.snapshots.exists(chains[-1]):
            parent = chains[-2] if len(chains) > 1 else None
            with self.lock, self.store.writing():
                self.store.snapshots.unpack(chains[-1], parent, hit["diff_id"],
                                            lambda: self.store.blobs.open(hit["blob"]))
        v.cached()
        self.steps_cached += 1
        return self._with_result(state, hit)

    def _with_result(self, state: State, result: dict[str, Any]) -> State:
        if not result.get("empty"):
            desc = layer_descriptor(result["blob"], result["size"])
            if result.get("media_type"):
                desc["mediaType"] = result["media_type"]
            state.layers.append(Layer(desc, result["diff_id"]))
        return state

    def _created(self, state: State, ran: bool) -> str:
        if self.epoch is not None:
            return rfc3339(self.epoch)
        return rfc3339(time.time()) if ran else state.created

    def _commit_dir(self, state: State, key: str, path: Path, overlay: bool, ran: bool,
                    empty: bool) -> dict[str, Any]:
        """Turn a filled layer dir into a blob and a snapshot; record the cache entry."""
        created = self._created(state, ran)
        if empty:
            _remove(path)
            result: dict[str, Any] = {"empty": True, "created": created}
            cache.record(self.store, key, result)
            return result
        from freight.store.layerwrite import write_layer

        with self.store.blobs.writer(encode=True) as w:  # the snapshot holds it unpacked: keep it small
            write_layer(path, w, overlay_upper=overlay, source_date_epoch=self.epoch)
            blob = w.commit()
        size = self.store.blobs.size(blob)
        chains = chain_ids([l.diff_id for l in state.layers] + [blob])
        parent = chains[-2] if len(chains) > 1 else None
        with self.lock:
            self.store.snapshots.adopt(chains[-1], parent, blob, path, _dir_size(os.fspath(path)))
        result = {"diff_id": blob, "blob": blob, "size": size, "created": created,
                  "blobs": [blob], "snapshots": [chains[-1]]}
        cache.record(self.store, key, result)
        return result

    def new_dir(self, kind: str) -> Path:
        import tempfile

        return Path(tempfile.mkdtemp(prefix=f"unpack-{kind}-", dir=self.store.scratch_dir))

    def rootfs(self, state: State) -> RootFS:
        return RootFS([self.store.snapshots.path(c) for c in state.chains()])

    def workdir_step(self, state: State, instr: Instruction, name: str) -> State:
        """WORKDIR makes its directory (a layer) unless it exists (an empty step)."""
        wd = state.config["WorkingDir"]
        fs = self.rootfs(state)
        created_by = f"WORKDIR {wd}"
        real = fs.real(fs.resolve(wd))
        exists = real is not None and os.path.isdir(real)
        v = self.progress.vertex(name)
        key = cache.cache_key({"parent": state.key(), "step": created_by})
        cached = self._cached_layer(state, key, v)
        if cached is not None:
            self.history(cached, created_by, exists)
            return cached
        path = self.new_dir("workdir")
        try:
            layer = LayerDir(path, fs, self.epoch if self.epoch is not None else FIXED_MTIME)
            if not exists:
                layer.ensure_dir(layer.resolve(wd, True), (0, 0))
            layer.finish()
            result = self._commit_dir(state, key, path, False, False, exists)
        finally:
            _remove(path)
        v.done()
        state = self._with_result(state, result)
        self.history(state, created_by, exists)
        return state

    # COPY / ADD

    def _copy_trees(self, instr: Instruction, frm: str) -> tuple[Tree, str]:
        if not frm:
            return self.ctx.tree(), ""
        dep = self.stage_index(frm)
        if dep is not None:
            st = self.stage_state(dep)
            return Tree(self.rootfs(st)), frm
        img = self.images.get(frm)
        if img is None:
            try:
                img = self.resolve_image(frm)
            except FreightError as err:
                raise BuildError(str(err), instr) from None
            self.images[frm] = img
        with self.lock:
            dirs = self.store.layer_dirs(img)
        return Tree(RootFS(dirs)), frm

    def _context_vertex(self) -> None:
        with self.lock:
            if self.context_vertex_done:
                return
            self.context_vertex_done = True
        v = self.progress.vertex("[internal] load build context")
        v.status("transferring context: done")
        v.done()

    def copy_step(self, state: State, instr: Instruction, scope: ArgScope, name: str) -> State:
        env = self.env(state, scope)
        x = expand_instruction(instr, env, self.df.escape)
        spec = x.copy_spec()
        is_add = instr.keyword == "ADD"
        if not spec.from_:
            self._context_vertex()
        v = self.progress.vertex(name)
        try:
            return self._copy(state, instr, spec, is_add, v)
        except (SourceNotFound, OSError, FreightError) as err:
            if isinstance(err, BuildError):
                v.error(err.message)
                raise
            message = str(err)
            if isinstance(err, SourceNotFound) and "not found" in message and "://" not in message:
                message = f"failed to compute cache key: {message}"
            v.error(message)
            raise BuildError(message, instr, name) from None

    def _copy(self, state: State, instr: Instruction, spec: Any, is_add: bool, v: Vertex) -> State:
        tree, frm = self._copy_trees(instr, spec.from_)
        fs = self.rootfs(state)
        from freight.builder.dockerignore import read_patterns

        owner = _resolve_owner(spec.chown, fs) if spec.chown else None
        mtime = self.epoch if self.epoch is not None else FIXED_MTIME
        opts = CopyOptions(owner=owner if owner else (None if frm else (0, 0)),
                           chmod=int(spec.chmod, 8) if spec.chmod else None, mtime=mtime,
                           excludes=read_patterns("\n".join(spec.excludes)) if spec.excludes else [],
                           parents=spec.parents, unpack=is_add and spec.unpack is not False,
                           chown_given=owner is not None)
        repos = [s for s in spec.sources if is_add and is_git_url(s)]
        gits = [parse_git_source(s) for s in repos]
        urls = [s for s in spec.sources if is_add and "://" in s and s not in repos]
        local = [s for s in spec.sources if s not in urls and s not in repos]
        matched = [m for s in local for m in match_sources(tree, s, opts)]
        count = len(matched) + len(urls) + len(gits) + len(spec.contents)
        dest = spec.dest
        wd = state.config.get("WorkingDir") or "/"
        if not dest.startswith("/"):
            dest = posixpath.join(wd, dest)
        named_dir = spec.dest.endswith(("/", "/.", "/..")) or spec.dest in (".", "..")
        dest_is_dir = named_dir or spec.parents or count > 1
        if count > 1 and not named_dir:
            raise BuildError("When using COPY with more than one source file, the destination must be "
                             "a directory and end with a /", instr)
        if not dest_is_dir and not spec.link:
            st = fs.lstat(fs.resolve(dest))
            dest_is_dir = st is not None and os.path.isdir(fs.real(fs.resolve(dest)) or "")
        for g in gits:
            g.commit = self._resolve_git(g)
        downloads = ""
        if urls or gits:
            import tempfile

            downloads = tempfile.mkdtemp(prefix="build-add-", dir=self.store.scratch_dir)
        try:
            fetched = [(u, *self._fetch(u, downloads, i, spec.checksum)) for i, u in enumerate(urls)]
            key = cache.cache_key({
                "parent": state.key() if not spec.link else "", "step": instr.keyword,
                "from": frm, "sources": [(m, tree.checksum(tree.resolve(m))) for m in matched],
                "urls": [(u, digest) for u, _p, digest, _t in fetched],
                "git": [(g.remote, g.subdir, g.commit, spec.keep_git_dir) for g in gits],
                "contents": [(d.name, d.content) for d in spec.contents],
                "dest": dest, "dest_is_dir": dest_is_dir, "owner": owner, "chmod": spec.chmod,
                "excludes": spec.excludes, "parents": spec.parents, "link": spec.link,
                "unpack": opts.unpack, "epoch": self.epoch, "lower": None if spec.link else
                [l.diff_id for l in state.layers]})
            created_by = self._copy_created_by(instr.keyword, spec)
            cached = self._cached_layer(state, key, v)
            if cached is not None:
                self.history(cached, created_by, False)
                return cached
            path = self.new_dir("copy")
            try:
                layer = LayerDir(path, None if spec.link else fs, mtime)
                if matched:
                    copy_sources(layer, tree, matched, dest, dest_is_dir, opts)
                for i, g in enumerate(gits):
                    self._add_git(layer, g, os.path.join(downloads, f"git-{i}"), dest, dest_is_dir, spec, opts)
                self._add_extra(layer, dest, dest_is_dir, spec, fetched, opts)
                layer.finish()
                result = self._commit_dir(state, key, path, False, False, False)
            finally:
                _remove(path)
        finally:
            if downloads:
                _remove(downloads)
        self.steps_run += 1
        v.done()
        state = self._with_result(state, result)
        self.history(state, created_by, False)
        return state

    def _fetch(self, url: str, tmp: str, i: int, checksum: str) -> tuple[str, str, int | None]:
        path = os.path.join(tmp, str(i))
        digest, mtime = fetch_url(url, path, checksum)
        return path, digest, mtime

    def _resolve_git(self, src: GitSource) -> str:
        """The commit an ADD git source names, shown as BuildKit's "load git source" step."""
        v = self.progress.vertex(f"[internal] load git source {redact(src.text)}")
        try:
            commit = resolve_git(src)
        except SourceNotFound as err:
            v.error(str(err))
            raise
        v.log(f"{commit}\t{src.ref or 'HEAD'}")
        v.done()
        return commit

    @staticmethod
    def _add_git(layer: LayerDir, src: GitSource, checkout_dir: str, dest: str, dest_is_dir: bool, spec: Any,
                 opts: CopyOptions) -> None:
        """Check the repository out and copy the contents of its tree (or sub-directory) to ``dest``."""
        checkout_git(src, checkout_dir, spec.keep_git_dir)
        tree = Tree(RootFS([Path(checkout_dir)]))
        copy_sources(layer, tree, [src.subdir], dest, dest_is_dir, opts)

    def _add_extra(self, layer: LayerDir, dest: str, dest_is_dir: bool, spec: Any,
                   fetched: list[tuple[str, str, str, int | None]], opts: CopyOptions) -> None:
        owner = opts.owner or (0, 0)
        for url, path, _digest, mtime in fetched:
            name = posixpath.basename(url.split("?")[0].rstrip("/")) or "index.html"
            target = layer.resolve(posixpath.join(dest, name) if dest_is_dir else dest, False)
            layer.ensure_dir(posixpath.dirname(target), owner)
            when = min(mtime or opts.mtime, opts.mtime) if self.epoch else (mtime or opts.mtime)
            layer.write_file(target, Path(path), opts.chmod or 0o600, owner, when)
        for doc in spec.contents:
            target = layer.resolve(posixpath.join(dest, doc.name) if dest_is_dir else dest, False)
            layer.ensure_dir(posixpath.dirname(target), owner)
            layer.write_file(target, doc.body.encode(), opts.chmod or 0o644, owner, opts.mtime)

    @staticmethod
    def _copy_created_by(keyword: str, spec: Any) -> str:
        flags = "".join(f"--{n}={v} " for n, v in (("chown", spec.chown), ("chmod", spec.chmod)) if v)
        sources = list(spec.sources) + [f"<<{d.name}" for d in spec.contents]
        return f"{keyword} {flags}{' '.join(sources)} {spec.dest} # buildkit"

    # RUN

    def run_step(self, state: State, instr: Instruction, scope: ArgScope, name: str) -> State:
        from freight.builder import runsupport

        env = self.env(state, scope)
        line = instr.command()
        args, script = line.script()
        shell = list(state.config.get("Shell") or DEFAULT_SHELL)
        if script is not None:
            run_args = [f"/dev/pipes/{script.name}"]
        elif line.prepend_shell:
            run_args = shell + args
        else:
            run_args = args
        build_args = {k: v for k, v in scope.values.items() if k not in state.env.values}
        shown = f"|{len(build_args)} " + " ".join(f"{k}={v}" for k, v in sorted(build_args.items())) + " " \
            if build_args else ""
        created_by = f"RUN {shown}{' '.join(run_args)} # buildkit"
        if instr.security() == "insecure":
            raise BuildError("granting entitlement security.insecure is not allowed by build daemon configuration",
                             instr)
        mounts = instr.mounts(env, self.df.escape)
        network = instr.network() if instr.network() != "default" else self.opts.network
        key = cache.cache_key({
            "parent": state.key(), "step": "RUN", "args": run_args, "script": script.body if script else None,
            "build_args": sorted(build_args.items()), "network": network,
            "mounts": [runsupport.mount_key(self, m) for m in mounts]})
        v = self.progress.vertex(name)
        cached = self._cached_layer(state, key, v)
        if cached is None:
            cached = self._from_cache_images(state, created_by, key, v)
        if cached is not None:
            hit = cache.lookup(self.store, key) or {}
            self.history(cached, created_by, bool(hit.get("empty")), self._hit_created(hit))
            return cached
        result = runsupport.execute(self, state, instr, run_args, script, build_args, mounts, network, key, v)
        self.steps_run += 1
        v.done()
        state = self._with_result(state, result)
        self.history(state, created_by, bool(result.get("empty")), result["created"])
        return state

    def _hit_created(self, hit: dict[str, Any]) -> str | None:
        if self.epoch is not None:
            return rfc3339(self.epoch)
        return hit.get("created")

    def _from_cache_images(self, state: State, created_by: str, key: str, v: Vertex) -> State | None:
        """``--cache-from``: take the layer of a RUN step that image made on the same base."""
        if self.opts.no_cache:
            return None
        ours = [l.diff_id for l in state.layers]
        for ref in self.opts.cache_from:
            try:
                img = self.store.resolve_image(ref)
            except NotFound:
                continue
            diff_ids, layer_index = img.diff_ids, 0
            for entry in img.config.get("history") or []:
                empty = entry.get("empty_layer", False)
                if (entry.get("created_by") == created_by and diff_ids[:layer_index] == ours
                        and not empty and layer_index < len(diff_ids)):
                    desc = img.layers[layer_index]
                    result = {"diff_id": diff_ids[layer_index], "blob": desc["digest"], "size": desc["size"],
                              "media_type": desc.get("mediaType"), "created": entry.get("created"),
                              "blobs": [desc["digest"]],
                              "snapshots": [chain_ids(diff_ids[: layer_index + 1])[-1]]}
                    cache.record(self.store, key, result)
                    return self._cached_layer(state, key, v)
                if not empty:
                    layer_index += 1
        return None


# --------------------------------------------------------------------------
# entry points


def _target_index(builder: Builder, target: str) -> int:
    if not target:
        return len(builder.df.stages) - 1
    index = builder.stage_index(target)
    if index is None:
        raise BuildError(f'target stage "{target}" could not be found')
    return index


def build(store: Any, opts: BuildOptions) -> BuildResult:
    """Build the image ``opts`` describes, store it (with its tags) and return its ID."""
    if opts.source_date_epoch is None:
        from freight.image.canonical import source_date_epoch

        opts = copy.copy(opts)  # the caller's options stay as given
        opts.source_date_epoch = source_date_epoch()
    for tag in opts.tags:
        reference.parse(tag)  # a bad name fails before anything is built
    progress = make_progress(opts.progress, opts.out)
    try:
        return _build(store, opts, progress)
    finally:
        progress.close()


def _build(store: Any, opts: BuildOptions, progress: Progress) -> BuildResult:
    v = progress.vertex(f"[internal] load build definition from {Path(opts.dockerfile or 'Dockerfile').name}")
    ctx = open_context(opts.context, opts.dockerfile, opts.stdin, Path(store.scratch_dir))
    ctx.hashes = HashCache(store.root / "buildcache-hashes.json")
    try:
        with ctx:
            return _build_context(store, opts, progress, ctx, v)
    except BuildError as err:
        err.text = ctx.dockerfile
        raise


def _build_context(store: Any, opts: BuildOptions, progress: Progress, ctx: BuildContext,
                   v: Vertex) -> BuildResult:
    v.status(f"transferring dockerfile: {len(ctx.dockerfile.encode())}B done")
    try:
        df = parse(ctx.dockerfile, ctx.dockerfile_name)
    except DockerfileError as err:
        v.error(err.message)
        raise BuildError(f"dockerfile parse error on line {err.line}: {err.message}",
                         _line_only(err.line, ctx.dockerfile_name)) from None
    v.done()
    with store.writing():
        builder = Builder(store, opts, ctx, df, progress)
        target = _target_index(builder, opts.target)
        builder.check_cycles()
        try:
            state = builder.build_stages(target)
        except DockerfileError as err:
            raise BuildError(err.message, _line_only(err.line, ctx.dockerfile_name)) from None
        image_id, tags = _export(store, state, opts, progress)
    return BuildResult(image_id, tags, ctx.dockerfile, builder.steps_run, builder.steps_cached)


def _line_only(line: int | None, filename: str) -> Instruction | None:
    if line is None:
        return None
    return Instruction("", line, line, "", [], filename=filename)


def _export(store: Any, state: State, opts: BuildOptions, progress: Progress) -> tuple[str, list[str]]:
    v = progress.vertex("exporting to image")
    config = dict(state.config)
    if opts.labels:
        config["Labels"] = {**(config.get("Labels") or {}), **opts.labels}
    created = rfc3339(opts.source_date_epoch) if opts.source_date_epoch is not None else state.created
    full = image_config([l.diff_id for l in state.layers], state.history, created, config)
    full.update(state.platform)
    v.status("exporting layers done")
    outputs = opts.outputs or [{"type": "docker"}]
    tags = [str(reference.parse(t)) for t in opts.tags]
    image_id = ""
    for out in outputs:
        kind = out.get("type", "docker")
        if kind in ("docker", "image") and not out.get("dest"):
            image_id = _store_image(store, full, [l.descriptor for l in state.layers], tags)
            v.status(f"writing image {image_id} done")
            for tag in tags:
                v.status(f"naming to {tag} done")
        else:
            from freight.builder.output import export_output

            image_id = export_output(store, full, [l.descriptor for l in state.layers], tags, out)
    v.done()
    return image_id, tags


def _store_image(store: Any, config: dict[str, Any], layers: list[dict[str, Any]], tags: list[str]) -> str:
    """Store the image; an image already stored (a cached rebuild) is only re-tagged, with no blob write."""
    from freight.image.canonical import canonical_json, image_manifest
    from freight.image.digest import sha256_bytes

    config_bytes = canonical_json(config)
    config_digest = sha256_bytes(config_bytes)
    manifest = canonical_json(image_manifest(config_digest, len(config_bytes), layers))
    manifest_digest = sha256_bytes(manifest)
    if store.blobs.has(config_digest) and store.blobs.has(manifest_digest):
        return store.add_image(manifest_digest, tags).id
    return store.write_image(config, layers, tags).id


def error_report(err: BuildError) -> str:
    """Docker's error block: the failing step, the Dockerfile lines, ``ERROR: failed to solve: ...``."""
    lines: list[str] = []
    if err.vertex:
        lines += ["------", f" > {err.vertex}:", *err.logs[-10:], "------"]
    instr = err.instr
    if instr is not None and instr.line:
        source = err.text.splitlines()
        end = getattr(instr, "end_line", instr.line) or instr.line
        first, last = max(1, instr.line - 2), min(len(source), end + 2)
        lines.append(f"{instr.filename}:{instr.line}" + (f"-{end}" if end != instr.line else ""))
        lines.append("--------------------")
        for n in range(first, last + 1):
            mark = ">>>" if instr.line <= n <= end else "   "
            lines.append(f" {n:>3} | {mark} {source[n - 1]}".rstrip() if n <= len(source) else "")
        lines.append("--------------------")
    lines.append(f"ERROR: failed to solve: {err.message}")
    return "\n".join(lines) + "\n"

