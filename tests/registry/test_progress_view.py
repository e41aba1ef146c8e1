"""The pull view keeps Docker's order: the ``Pulling from`` line, the layer rows, then
``Digest:`` and ``Status:`` below them."""

from __future__ import annotations

import io

from freight.registry.progress import Bars


def test_lines_after_the_layer_rows_stay_below_them() -> None:
    out = io.StringIO()
    bars = Bars(out)
    bars.message("latest: Pulling from library/busybox")
    bars.status("a3ed95caeb02", "Downloading", 100)
    bars.advance("a3ed95caeb02", 100)
    bars.status("a3ed95caeb02", "Pull complete")
    bars.message("Digest: sha256:abc")
    bars.message("Status: Downloaded newer image for busybox:latest")
    bars.close()
    text = out.getvalue()
    order = [text.rindex(s) for s in ("Pulling from", "a3ed95caeb02: Pull complete", "Digest:", "Status:")]
    assert order == sorted(order), text
    assert text.count("Digest:") == 1
