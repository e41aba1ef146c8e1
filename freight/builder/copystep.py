"""COPY and ADD steps: their sources, their cache key, their layer.

Sources are the context (``freight.builder.context``), another stage or an image
(``--from``), and for ADD URLs and git repositories (``freight.builder.gitsource``);
``freight.builder.copyadd`` fills the new layer's directory by Docker's rules.

The cache key holds a checksum of each source's content and metadata (never mtimes),
the destination and the flags; every new file and directory gets one fixed mtime,
the build's time (``freight.builder.timestamps``; ``copyadd.FIXED_MTIME`` with
``--timestamp now``), and root ownership unless ``--chown`` (BuildKit keeps the
context's mtimes, so its COPY layers change with every checkout).
"""

from __future__ import annotations

import os
import posixpath
from contextlib import contextmanager
from pathlib import Path

from freight.builder.bases import resolve_image
from freight.builder.context import SourceNotFound, Tree, match_sources
from freight.builder.dockerfile.expansion import ArgScope, expand_instruction
from freight.builder.dockerignore import read_patterns
from freight.builder.fsview import RootFS
from freight.builder.gitsource import GitSource, is_git_url, parse_git_source, redact
from freight.builder.gitsource import checkout as checkout_git
from freight.builder.gitsource import resolve as resolve_git
from freight.builder.layers import cached_layer, with_result
from freight.builder.state import BuildError, BuildSession, State
from freight.errors import FreightError, InvalidArgument
from freight.record import replace

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Iterator

    from freight.builder.copyadd import CopyOptions, LayerDir
    from freight.builder.dockerfile.instructions import CopySpec, Instruction
    from freight.builder.progress import Vertex


def source_tree(session: BuildSession, instr: Instruction | None, frm: str) -> tuple[Tree, str]:
    """The tree ``--from=frm`` names (a stage, else an image; the context when empty), and
    what identifies it in the cache key."""
    if not frm:
        return session.ctx.tree(), ""
    dep = session.df.stage_index(frm, by_number=True)
    if dep is not None:
        st = session.stage_state(dep)
        return Tree(session.rootfs(st)), frm
    img = session.images.get(frm)
    if img is None:
        try:
            img = resolve_image(session, frm)
        except FreightError as err:
            raise BuildError(str(err), instr) from None
        session.images[frm] = img
    with session.lock:
        dirs = session.store.layer_dirs(img)
    return Tree(RootFS(dirs)), frm


def _context_vertex(session: BuildSession) -> None:
    with session.lock:
        if session.context_vertex_done:
            return
        session.context_vertex_done = True
    v = session.progress.vertex("[internal] load build context")
    v.status("transferring context: done")
    v.done()


def copy_step(session: BuildSession, state: State, instr: Instruction, scope: ArgScope, name: str) -> State:
    env = session.env(state, scope)
    x = expand_instruction(instr, env, session.df.escape)
    spec = x.copy_spec()
    if not spec.from_:
        _context_vertex(session)
    v = session.progress.vertex(name)
    try:
        return _copy(session, state, instr, spec, v)
    except (SourceNotFound, OSError, FreightError) as err:
        if isinstance(err, BuildError):
            v.error(err.message)
            raise
        message = str(err)
        if isinstance(err, SourceNotFound) and "not found" in message and "://" not in message:
            message = f"failed to compute cache key: {message}"
        v.error(message)
        raise BuildError(message, instr, name) from None


def _copy(session: BuildSession, state: State, instr: Instruction, spec: CopySpec, v: Vertex) -> State:
    is_add = instr.keyword == "ADD"
    tree, frm = source_tree(session, instr, spec.from_)
    fs = session.rootfs(state)
    owner = _resolve_owner(spec.chown, fs) if spec.chown else None
    excludes = read_patterns("\n".join(spec.excludes)) if spec.excludes else []
    repos = [s for s in spec.sources if is_add and is_git_url(s)]
    gits = [parse_git_source(s) for s in repos]
    urls = [s for s in spec.sources if is_add and "://" in s and s not in repos]
    local = [s for s in spec.sources if s not in urls and s not in repos]
    matched = [m for s in local for m in match_sources(tree, s, excludes)]
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
    gits = [replace(g, commit=_resolve_git(session, g)) for g in gits]
    with _downloads(session, bool(urls or gits)) as downloads:
        locked = session.lock_file.urls if session.lock_file is not None else {}
        fetched = [(u, *_fetch(u, downloads, i, spec.checksum or locked.get(u, ""))) for i, u in enumerate(urls)]
        key = session.step_key({
            "parent": state.key() if not spec.link else "", "step": instr.keyword,
            "from": frm, "sources": [(m, tree.checksum(tree.resolve(m))) for m in matched],
            "urls": [(u, digest) for u, _p, digest, _t in fetched],
            "git": [(g.remote, g.subdir, g.commit, spec.keep_git_dir) for g in gits],
            "contents": [(d.name, d.content) for d in spec.contents],
            "dest": dest, "dest_is_dir": dest_is_dir, "owner": owner, "chmod": spec.chmod,
            "excludes": spec.excludes, "parents": spec.parents, "link": spec.link,
            "unpack": is_add and spec.unpack is not False,
            "lower": None if spec.link else [layer.diff_id for layer in state.layers]})
        created_by = _copy_created_by(instr.keyword, spec)
        cached = cached_layer(session, state, key, v)
        if cached is not None:
            session.history(cached, created_by, False)
            return cached
        # Filling and committing a layer is copyadd's and commit's work (shutil among their
        # imports): a fully cached build does without them (tests/cli/test_startup_imports.py).
        from freight.builder.commit import commit_dir, remove
        from freight.builder.copyadd import FIXED_MTIME, CopyOptions, LayerDir, copy_sources

        mtime = session.epoch if session.epoch is not None else FIXED_MTIME
        opts = CopyOptions(owner=owner if owner else (None if frm else (0, 0)),
                           chmod=int(spec.chmod, 8) if spec.chmod else None, mtime=mtime, excludes=excludes,
                           parents=spec.parents, unpack=is_add and spec.unpack is not False,
                           chown_given=owner is not None)
        path = session.new_dir("copy")
        try:
            layer = LayerDir(path, None if spec.link else fs, mtime)
            if matched:
                copy_sources(layer, tree, matched, dest, dest_is_dir, opts)
            for i, g in enumerate(gits):
                assert downloads is not None  # made for every git source
                checkout_git(g, os.fspath(downloads / f"git-{i}"), spec.keep_git_dir)
                copy_sources(layer, Tree(RootFS([downloads / f"git-{i}"])), [g.subdir], dest, dest_is_dir, opts)
            _add_extra(session, layer, dest, dest_is_dir, spec, fetched, opts)
            layer.finish()
            result = commit_dir(session, state, key, path, False, False, False)
        finally:
            remove(path)
    session.steps_run += 1
    v.done()
    state = with_result(state, result)
    session.history(state, created_by, False)
    return state


@contextmanager
def _downloads(session: BuildSession, needed: bool) -> Iterator[Path | None]:
    """A directory for the URLs and git checkouts an ADD brings in, when it has any."""
    if not needed:
        yield None
        return
    from freight.builder.commit import remove  # an ADD of URLs or git repositories only

    path = session.new_dir("add")
    try:
        yield path
    finally:
        remove(path)


def _fetch(url: str, downloads: Path | None, i: int, checksum: str) -> tuple[str, str, int | None]:
    """Download ``url`` into ``downloads``; the path, the content's digest and its Last-Modified time."""
    from freight.builder.copyadd import fetch_url  # an ADD of URLs only

    assert downloads is not None  # made for every URL
    path = os.fspath(downloads / str(i))
    digest, mtime = fetch_url(url, path, checksum)
    return path, digest, mtime


def _resolve_git(session: BuildSession, src: GitSource) -> str:
    """The commit an ADD git source names, shown as BuildKit's "load git source" step."""
    v = session.progress.vertex(f"[internal] load git source {redact(src.text)}")
    try:
        commit = resolve_git(src)
    except SourceNotFound as err:
        v.error(str(err))
        raise
    v.log(f"{commit}\t{src.ref or 'HEAD'}")
    v.done()
    return commit


def _add_extra(session: BuildSession, layer: LayerDir, dest: str, dest_is_dir: bool, spec: CopySpec,
               fetched: list[tuple[str, str, str, int | None]], opts: CopyOptions) -> None:
    """The downloaded URLs and the inline (heredoc) sources."""
    owner = opts.owner or (0, 0)
    for url, path, _digest, mtime in fetched:
        name = posixpath.basename(url.split("?")[0].rstrip("/")) or "index.html"
        target = layer.resolve(posixpath.join(dest, name) if dest_is_dir else dest, False)
        layer.ensure_dir(posixpath.dirname(target), owner)
        when = min(mtime or opts.mtime, opts.mtime) if session.epoch is not None else (mtime or opts.mtime)
        layer.write_file(target, Path(path), opts.chmod or 0o600, owner, when)
    for doc in spec.contents:
        target = layer.resolve(posixpath.join(dest, doc.name) if dest_is_dir else dest, False)
        layer.ensure_dir(posixpath.dirname(target), owner)
        layer.write_file(target, doc.body.encode(), opts.chmod or 0o644, owner, opts.mtime)


def _copy_created_by(keyword: str, spec: CopySpec) -> str:
    flags = "".join(f"--{n}={v} " for n, v in (("chown", spec.chown), ("chmod", spec.chmod)) if v)
    sources = list(spec.sources) + [f"<<{d.name}" for d in spec.contents]
    return f"{keyword} {flags}{' '.join(sources)} {spec.dest} # buildkit"


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
