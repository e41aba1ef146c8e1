"""FROM: the image each stage starts from.

A stage's base is an earlier stage, ``scratch``, or an image. An image must be for the
stage's ``FROM --platform`` (else ``build --platform``, when given): a local image for
another platform is pulled for it, a missing one is pulled (always with ``--pull``),
and when none can be had the build fails as BuildKit's does; a platform containerd
cannot parse is refused; ``scratch`` takes any. ``resolve_bases`` resolves the images
of the stages a build needs before any of them runs (BuildKit's "load metadata" steps).
"""

from __future__ import annotations

import json

from freight.builder.dockerfile.expansion import expand_instruction
from freight.builder.lockfile import pinned
from freight.builder.state import DEFAULT_PATH, BuildError, BuildSession, Layer, State, new_state
from freight.errors import FreightError, InvalidArgument, NotFound
from freight.image import platform as platforms
from freight.image import reference
from freight.image.canonical import rfc3339
from freight.image.platform import host_platform

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.store.images import Image


def stage_platform(session: BuildSession, index: int) -> dict[str, str] | None:
    """The platform a stage's base must be for: its ``FROM --platform``, else ``build
    --platform``; None when neither is given (any local image will do)."""
    stage = session.df.stages[index]
    from_ = expand_instruction(stage.from_, session.global_env, session.df.escape)
    text = from_.flag("platform") or session.opts.platform
    if not text:
        return None
    try:
        return platforms.parse(text)
    except InvalidArgument as err:
        raise BuildError(f"failed to parse platform {text}: {err}", stage.from_) from None


def _base_key(word: str, wanted: dict[str, str] | None) -> str:
    return word if wanted is None else f"{word} for {platforms.text(wanted)}"


def resolve_bases(session: BuildSession, stages: list[int]) -> None:
    """Resolve (pulling where needed) the base image of each of ``stages`` that has one."""
    for i in stages:
        word, wanted = session.graph.words[i], stage_platform(session, i)
        key = _base_key(word, wanted)
        if word == "scratch" or session.graph.bases[i] is not None or key in session.images:
            continue
        v = session.progress.vertex(f"[internal] load metadata for {normalised(word)}")
        try:
            session.images[key] = resolve_image(session, word, session.opts.pull, wanted)
        except FreightError as err:
            v.error(str(err))
            raise BuildError(str(err), session.df.stages[i].from_) from None
        v.done()


def normalised(word: str) -> str:
    """An image name as Docker shows it (``docker.io/library/busybox:latest``), else as written."""
    try:
        return str(reference.parse(word))
    except FreightError:
        return word


def resolve_image(session: BuildSession, word: str, pull: bool = False,
                  wanted: dict[str, str] | None = None) -> Image:
    """A local image (for the ``wanted`` platform when given), pulled when missing (always
    with ``--pull``)."""
    store = session.store
    ref = normalised(word)
    locked = pinned(session.lock_file, word, wanted or platforms.resolve(session.opts.platform or None))
    if locked is not None:  # the lock file's digest, whatever the tag means now
        word, pull = locked, False
    with session.lock:
        if not pull:
            try:
                img = store.resolve_image(word)
            except NotFound:
                img = None
            if img is not None and (wanted is None or platforms.matches(img.config, wanted)):
                return img
        # Pulling is the registry client's work: imported when a base image is missing.
        from freight.registry.progress import Reporter
        from freight.registry.pull import pull as pull_image

        try:
            img = pull_image(store, word, wanted or session.opts.platform or None, Reporter())
        except FreightError as err:
            raise NotFound(f"{word}: failed to resolve source metadata for {ref}: {err}") from None
        if wanted is not None and not platforms.matches(img.config, wanted):
            raise NotFound(f"{word}: failed to resolve source metadata for {ref}: "
                           "no match for platform in manifest: not found")
        return img


def base_state(session: BuildSession, index: int) -> State:
    """The State stage ``index`` starts from: a copy of its base stage's, empty for
    ``scratch``, else its base image's."""
    word = session.graph.words[index]
    dep = session.graph.bases[index]
    if dep is not None:
        return session.stage_state(dep).copy()
    if word == "scratch":  # for any --platform, which the image then says it is for
        return new_state({"Env": [DEFAULT_PATH]}, [], [], rfc3339(session.epoch or 0),
                         stage_platform(session, index))
    img = session.images[_base_key(word, stage_platform(session, index))]
    config = json.loads(json.dumps(img.config))
    layers = [Layer(desc, diff) for desc, diff in zip(img.layers, img.diff_ids)]
    inner = config.get("config") or {}
    if not any(e.startswith("PATH=") for e in inner.get("Env") or []):
        inner["Env"] = [DEFAULT_PATH] + list(inner.get("Env") or [])
    plat = {k: config[k] for k in ("os", "architecture", "variant") if k in config}
    return new_state(inner, layers, list(config.get("history") or []),
                     config.get("created") or rfc3339(0), plat or host_platform())


def base_image_id(session: BuildSession, index: int) -> str | None:
    """The ID of the image stage ``index`` starts from (None: ``scratch``, or another stage)."""
    word = session.graph.words[index]
    if session.graph.bases[index] is not None or word == "scratch":
        return None
    return session.images[_base_key(word, stage_platform(session, index))].id


def from_name(session: BuildSession, index: int) -> str:
    """What the FROM step's progress line names: a stage or scratch as written, an image
    normalised."""
    word = session.graph.words[index]
    if session.graph.bases[index] is not None or word == "scratch":
        return word
    return normalised(word)
