"""The tty build view as BuildKit draws it: ``CACHED`` steps, ``=> =>`` sub-rows with the
``writing image sha256:...`` line, and ``FINISHED`` at the end."""

from __future__ import annotations

import io
import re

from freight.builder.progress import TtyProgress


def test_the_finished_view() -> None:
    out = io.StringIO()
    progress = TtyProgress(out)
    progress.vertex("[1/2] FROM docker.io/library/busybox:latest").done()
    progress.vertex("[2/2] RUN echo hi > /x").cached()
    export = progress.vertex("exporting to image")
    export.status("exporting layers done")
    export.status("writing image sha256:" + "ab" * 32 + " done")
    export.status("naming to docker.io/library/t1:latest done")
    export.done()
    progress.close()
    final = out.getvalue().split("[+] Building")[-1]
    lines = [line.rstrip() for line in final.splitlines()]
    assert re.fullmatch(r" [\d.]+s \(3/3\) FINISHED", lines[0])
    assert re.fullmatch(r" => CACHED \[2/2\] RUN echo hi > /x +0\.0s", lines[2])
    assert [line.split()[2] for line in lines[4:7]] == ["exporting", "writing", "naming"]
    assert all(line.startswith(" => => ") for line in lines[4:7])
    assert "sha256:abab" in lines[5]


def test_a_failed_build_is_not_finished() -> None:
    out = io.StringIO()
    progress = TtyProgress(out)
    progress.vertex("[1/1] RUN false").error("exit code: 1")
    progress.close()
    assert "FINISHED" not in out.getvalue() and "ERROR" in out.getvalue()
