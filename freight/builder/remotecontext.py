"""Build contexts named by a URL, as ``docker build`` takes them: a git repository
(``https://host/repo.git#ref:subdir``, ``git://...``: the tree at ``ref``, the remote's
HEAD without one, from ``subdir``), or the URL of a tar (compressed or not) or of a lone
Dockerfile. Imported only for such a context."""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from freight.builder import gitsource
from freight.builder.context import BuildContext, ContextError, from_dir, from_stdin
from freight.record import replace


def is_remote(context: str) -> bool:
    """Whether ``context`` is a URL (or git's ``user@host:path``) rather than a local path."""
    return "://" in context or ("@" in context and not os.path.exists(context))


def open_remote(context: str, dockerfile: str | None = None, tmp_dir: Path | None = None) -> BuildContext:
    if gitsource.is_git_url(context):
        return _from_git(gitsource.parse_git_source(context), dockerfile, tmp_dir)
    if context.startswith(("http://", "https://")):
        return _from_url(context, dockerfile, tmp_dir)
    raise ContextError(f'unable to prepare context: path "{context}" not found')


def _from_git(src: gitsource.GitSource, dockerfile: str | None, tmp_dir: Path | None) -> BuildContext:
    temp = tempfile.mkdtemp(prefix="build-context-", dir=tmp_dir)
    try:
        src = replace(src, commit=gitsource.resolve(src))
        gitsource.checkout(src, f"{temp}/tree", keep_git_dir=False)
        root = Path(temp, "tree", src.subdir)
        if not root.is_dir():
            raise ContextError(f"unable to prepare context: subdirectory {src.subdir} not found in "
                               f"{gitsource.redact(src.remote)}")
        return from_dir(root, dockerfile, temp)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _from_url(url: str, dockerfile: str | None, tmp_dir: Path | None) -> BuildContext:
    with tempfile.TemporaryFile(dir=tmp_dir) as spool:
        try:
            with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (the user's URL)
                shutil.copyfileobj(answer, spool)
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ContextError(f"unable to prepare context: unable to download remote context {url}: "
                               f"{reason}") from None
        spool.seek(0)
        return from_stdin(spool, dockerfile, tmp_dir)  # a tar, or the Dockerfile alone
