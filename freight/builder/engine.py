"""The build engine: ``build(store, BuildOptions) -> BuildResult``.

It opens the context, parses the Dockerfile, finds the target and what each
stage reads (refusing stages that read each other before anything runs, with
BuildKit's message), builds the stages the target needs
(``freight.builder.schedule``) and exports the result (``freight.builder.export``).
Every step that makes a layer (RUN, COPY, ADD, WORKDIR) goes through the build
cache (``freight.builder.cache``); config instructions change only the config
and add an ``empty_layer`` history entry, as BuildKit writes them.

Timestamps (reproducibility): every new history entry, the config's
``created`` and every new layer's mtimes come from one time that depends only on
the build's inputs (``freight.builder.timestamps``: ``SOURCE_DATE_EPOCH``, else
the newest ``created`` of the base images, else the Unix epoch), so the same
inputs give the same image ID on any machine, from any checkout, at any time,
with a cold or a warm cache. ``--timestamp now`` gives Docker's wall-clock times.

Limits: ``--cache-from IMAGE`` reuses the layers of RUN steps whose history
line and layers below match (COPY/ADD layers depend on content and are
rebuilt).
"""

from __future__ import annotations

from pathlib import Path

from freight.builder import provenance
from freight.builder.context import BuildContext, HashCache, open_context
from freight.builder.dockerfile.expansion import global_scope
from freight.builder.dockerfile.instructions import Dockerfile, DockerfileError, Instruction
from freight.builder.dockerfile.parser import StageGraph, parse
from freight.builder.export import export
from freight.builder.lockfile import Lock, lock_path, read_lock, references
from freight.builder.progress import Progress, Vertex, make_progress
from freight.builder.schedule import build_stages
from freight.builder.state import BuildError, BuildOptions, BuildResult, BuildSession, platform_args
from freight.builder.timestamps import NOW, given_epoch, parse_timestamp
from freight.errors import FreightError
from freight.image import platform as platforms
from freight.image import reference
from freight.record import replace

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store.store import Store


def build(store: Store, opts: BuildOptions) -> BuildResult:
    """Build the image ``opts`` describes, store it (with its tags) and return its ID."""
    if opts.timestamp and opts.timestamp != NOW:
        opts = replace(opts, source_date_epoch=parse_timestamp(opts.timestamp))
    elif opts.source_date_epoch is None and not opts.timestamp:
        opts = replace(opts, source_date_epoch=given_epoch(opts.build_args))
    for tag in opts.tags:
        reference.parse(tag)  # a bad name fails before anything is built
    if opts.progress == "classic":  # the API's builds: the classic builder's lines, a module of their own
        from freight.builder.classic import ClassicProgress

        progress: Progress = ClassicProgress(opts.out)
    else:
        progress = make_progress(opts.progress, opts.out)
    try:
        return _build(store, opts, progress)
    finally:
        progress.close()


def _build(store: Store, opts: BuildOptions, progress: Progress) -> BuildResult:
    v = progress.vertex(f"[internal] load build definition from {Path(opts.dockerfile or 'Dockerfile').name}")
    ctx = _open_context(opts, Path(store.scratch_dir))
    ctx.hashes = HashCache(store.root / "buildcache-hashes.json")
    try:
        with ctx:
            return _build_context(store, opts, progress, ctx, v)
    except BuildError as err:
        err.text = ctx.dockerfile
        raise


def _build_context(store: Store, opts: BuildOptions, progress: Progress, ctx: BuildContext,
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
        global_env = global_scope(df, opts.build_args, platform_args(opts.platform))
        try:
            target = df.target(opts.target)
        except DockerfileError as err:
            raise BuildError(err.message) from None
        graph = StageGraph(df, global_env)
        cycle = graph.cycle_start()
        if cycle is not None:
            raise BuildError(f"circular dependency detected on stage: {df.stages[cycle].name or f'stage-{cycle}'}")
        session = BuildSession(store, opts, ctx, df, progress, global_env, graph)
        session.lock_file = _lock_file(opts, ctx, df)
        try:
            state = build_stages(session, target)
        except DockerfileError as err:
            raise BuildError(err.message, _line_only(err.line, ctx.dockerfile_name)) from None
        image_id, tags = export(store, state, opts, progress, session.epoch)
        progress.built(image_id, tags)
        if opts.provenance and (image := store.images.get(image_id)) is not None:
            provenance.record(store, image, opts, ctx, session.images)
    return BuildResult(image_id, tags, ctx.dockerfile, session.steps_run, session.steps_cached,
                       sorted({img.id for img in session.images.values()}))


def _lock_file(opts: BuildOptions, ctx: BuildContext, df: Dockerfile) -> Lock | None:
    """The Dockerfile's lock file, if any; with ``--locked``, checked against the registries."""
    path = lock_path(ctx.dockerfile_path) if ctx.dockerfile_path is not None else None
    try:
        lock = read_lock(path) if path is not None else None
        if opts.locked:
            # The registry client: only a build that checks its lock file asks registries.
            from freight.builder.lockresolve import verify

            images, urls = references(df, opts.build_args, platform_args(opts.platform))
            verify(lock, path or Path(ctx.dockerfile_name + ".lock"), images, urls,
                   platforms.resolve(opts.platform or None))
    except FreightError as err:  # a lock file that cannot be read or does not match; a bad image name
        raise BuildError(str(err)) from None
    return lock


def _line_only(line: int | None, filename: str) -> Instruction | None:
    if line is None:
        return None
    return Instruction("", line, line, "", [], filename=filename)


def error_report(err: BuildError) -> str:
    """Docker's error block: the failing step, the Dockerfile lines, ``ERROR: failed to solve: ...``."""
    lines: list[str] = []
    if err.vertex:
        lines += ["------", f" > {err.vertex}:", *err.logs[-10:], "------"]
    instr = err.instr
    if instr is not None and instr.line:
        source = err.text.splitlines()
        end = instr.end_line or instr.line
        first, last = max(1, instr.line - 2), min(len(source), end + 2)
        lines.append(f"{instr.filename}:{instr.line}" + (f"-{end}" if end != instr.line else ""))
        lines.append("--------------------")
        for n in range(first, last + 1):
            mark = ">>>" if instr.line <= n <= end else "   "
            lines.append(f" {n:>3} | {mark} {source[n - 1]}".rstrip() if n <= len(source) else "")
        lines.append("--------------------")
    lines.append(f"ERROR: failed to solve: {err.message}")
    return "\n".join(lines) + "\n"


def _open_context(opts: BuildOptions, tmp_dir: Path) -> BuildContext:
    """The build's context: a local one, or one a URL names (``remotecontext``)."""
    if opts.context != "-" and ("://" in opts.context or "@" in opts.context):
        from freight.builder import remotecontext  # git and urllib: only for a context named by a URL

        if remotecontext.is_remote(opts.context):
            return remotecontext.open_remote(opts.context, opts.dockerfile, tmp_dir)
    return open_context(opts.context, opts.dockerfile, opts.stdin, tmp_dir)
