"""Helpers for the build tests: write a context, build it, read the image back; a parsed
Dockerfile's instructions, and their dump in BuildKit's s-expression style."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

from testlib import store_temporaries

from freight.builder.dockerfile.instructions import Dockerfile, Instruction
from freight.builder.dockerfile.shellwords import go_quote
from freight.builder.engine import build
from freight.builder.state import BuildOptions, BuildResult
from freight.record import replace


def write_context(path: Path, files: dict[str, str | bytes]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def do_build(store: Any, context: Path, **kwargs: Any) -> tuple[BuildResult, str]:
    """Build with plain progress; return the result and the progress text."""
    out = io.StringIO()
    result = build(store, BuildOptions(context=os.fspath(context), progress="plain", out=out, **kwargs))
    return result, out.getvalue()


def config(store: Any, image_id: str) -> dict[str, Any]:
    return store.resolve_image(image_id).config


def layer_members(store: Any, image_id: str, index: int = -1) -> dict[str, tarfile.TarInfo]:
    img = store.resolve_image(image_id)
    digest = img.layers[index]["digest"]
    with tarfile.open(fileobj=io.BytesIO(store.blobs.read(digest))) as tar:
        return {m.name: m for m in tar.getmembers()}


def layer_file(store: Any, image_id: str, name: str, index: int = -1) -> bytes:
    img = store.resolve_image(image_id)
    with tarfile.open(fileobj=io.BytesIO(store.blobs.read(img.layers[index]["digest"]))) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def run_dirs(store: Any) -> list[str]:
    """Container directories a RUN step left behind, and other temporaries (there should be none)."""
    return store_temporaries(store.root)


def all_instructions(df: Dockerfile) -> list[Instruction]:
    """Every instruction in file order."""
    out = list(df.global_args)
    for stage in df.stages:
        out.append(stage.from_)
        out.extend(stage.instructions)
    return out


def _dump_instruction(instr: Instruction) -> str:
    parts = [instr.keyword.lower()]
    if instr.raw_flags:
        parts.append("[" + " ".join(go_quote(f) for f in instr.raw_flags) + "]")
    if instr.trigger is not None:
        parts.append(_dump_instruction(replace(instr.trigger, heredocs=[])))
    else:
        parts += [go_quote(a) for a in instr.args]
    for doc in instr.heredocs:
        opts = "".join(o for o, on in ((" chomp", doc.chomp), (" noexpand", not doc.expand)) if on)
        parts.append(f"(heredoc{opts} {go_quote(doc.name)} {go_quote(doc.content)})")
    return "(" + " ".join(parts) + ")"


def dump(df: Dockerfile) -> str:
    """One s-expression per instruction, as BuildKit's parser dumps them: ``(copy ["--from=a"] "x" "/y")``."""
    return "".join(_dump_instruction(i) + "\n" for i in all_instructions(df))


DETERMINISTIC_DOCKERFILE = """\
FROM busybox
COPY a.txt /a.txt
ADD b.txt /opt/b.txt
ADD bundle.tar /opt/bundle/
COPY bundle.tar /src/bundle.tar
ENV GREETING=hello
WORKDIR /work
LABEL org.example.kind=repro
RUN mkdir -p /x/y && echo "$GREETING" > /x/y/f && chmod 600 /x/y/f && ln -s /x/y/f /x/link && touch /x/new
RUN mkdir /unpacked && tar -xf /src/bundle.tar -C /unpacked && chown -R 1000:1000 /work
USER 1000:1000
RUN echo "as a user" > /work/mine && touch /work/later
"""


def bundle_tar() -> bytes:
    """A small tar with one entry older than any build time and one from the far future."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data, mtime in (("old.txt", b"old\n", 1_000_000), ("future.txt", b"future\n", 4_000_000_000)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def deterministic_context(path: Path, mtime: int) -> Path:
    """The deterministic Dockerfile's context in ``path``, every file's mtime ``mtime``."""
    write_context(path, {"Dockerfile": DETERMINISTIC_DOCKERFILE, "a.txt": "a\n", "b.txt": "b\n",
                         "bundle.tar": bundle_tar()})
    for entry in path.iterdir():
        os.utime(entry, (mtime, mtime))
    return path

# The build time of an image built on busybox (freight.builder.timestamps): the busybox
# image's ``created``, the mtime scripts/busybox-rootfs.sh gives its files.
BASE_TIME = 1_700_000_000
