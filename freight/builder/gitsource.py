"""ADD of a git repository, as BuildKit does it.

A source is a repository when it is ``git://…``, ``ssh://…``, ``user@host:path``
or ``http(s)://…`` whose path ends in ``.git``, optionally followed by
``#ref[:subdir]`` (a branch, tag or full commit hash, and a directory inside
the tree). The host's ``git`` binary does the work:

* ``resolve`` turns the ref into a commit with ``git ls-remote`` (no clone), so
  the build cache can key the step on the commit: an unchanged remote ref is a
  cache hit, a moved one re-runs the step;
* ``checkout`` fetches that one commit shallowly (all refs when the server
  refuses a fetch by hash), checks it out with its submodules and drops every
  ``.git`` entry unless ``--keep-git-dir=true`` (git never tracks a path named
  ``.git``, so they all belong to git itself).
"""

from __future__ import annotations

import os
import re
import urllib.parse

from freight.builder.context import SourceNotFound
from freight.record import Record

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import subprocess

# compiled on first use: most builds have no git source
_SCP_LIKE = r"^[\w.+-]+@[\w.-]+:(?!//)"
_COMMIT = r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$"
_USERINFO = r"(?i)^([a-z][a-z0-9+.-]*://[^/@:]*):[^/@]*@"


class GitSource(Record):
    text: str                 # the ADD source as written
    remote: str               # the repository URL, without the fragment
    ref: str                  # branch, tag or commit ("" for the remote's HEAD)
    subdir: str               # directory inside the tree ("" for the root)
    commit: str = ""          # what ``resolve`` found


def is_git_url(source: str) -> bool:
    """Whether an ADD source names a git repository (BuildKit's rules)."""
    url = source.partition("#")[0]
    if url.startswith(("git://", "ssh://")) or re.match(_SCP_LIKE, url):
        return True
    if url.startswith(("http://", "https://")):
        return urllib.parse.urlsplit(url).path.rstrip("/").endswith(".git")
    return False


def parse_git_source(source: str) -> GitSource:
    url, _, fragment = source.partition("#")
    ref, _, subdir = fragment.partition(":")
    return GitSource(source, url, ref, subdir.strip("/"))


def redact(url: str) -> str:
    """``url`` with any password replaced, for messages."""
    return re.sub(_USERINFO, r"\1:xxxxx@", url)


def _git(args: list[str], cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run git without a terminal: a server asking for credentials fails instead of prompting."""
    import subprocess  # git sources only: a build without one does without subprocess

    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        return subprocess.run(["git", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, start_new_session=True, umask=0o022)
    except FileNotFoundError:
        raise SourceNotFound("failed to load cache key: git not found (install the git package)") from None


def _failure(src: GitSource, proc: subprocess.CompletedProcess[str]) -> SourceNotFound:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    detail = lines[-1] if lines else f"exit status {proc.returncode}"
    return SourceNotFound(f"failed to load cache key: failed to fetch remote {redact(src.remote)}: {detail}")


def resolve(src: GitSource) -> str:
    """The commit ``src.ref`` names on the remote (a full hash is taken as it is)."""
    if re.match(_COMMIT, src.ref):
        return src.ref
    proc = _git(["ls-remote", src.remote])
    if proc.returncode != 0:
        raise _failure(src, proc)
    refs: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    ref = src.ref or "HEAD"
    for name in (ref, f"refs/tags/{ref}", f"refs/heads/{ref}"):
        commit = refs.get(f"{name}^{{}}") or refs.get(name)  # an annotated tag: the commit it points at
        if commit:
            return commit
    raise SourceNotFound(f'failed to load cache key: repository does not contain ref {ref}, output: ""')


def checkout(src: GitSource, dest: str, keep_git_dir: bool) -> None:
    """Check out ``src.commit`` (with submodules) into the new directory ``dest``."""
    steps = [["init", "-q", "--template=", dest], ["-C", dest, "remote", "add", "origin", src.remote]]
    for args in steps:
        proc = _git(args)
        if proc.returncode != 0:
            raise _failure(src, proc)
    proc = _git(["-C", dest, "fetch", "-q", "--depth=1", "--no-tags", "origin", src.commit])
    if proc.returncode != 0:  # a server that refuses a fetch by hash: take every ref
        proc = _git(["-C", dest, "fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*"])
        if proc.returncode != 0:
            raise _failure(src, proc)
    proc = _git(["-C", dest, "checkout", "-q", "--detach", src.commit])
    if proc.returncode != 0:
        raise _failure(src, proc)
    submodules = ["-C", dest, "submodule", "-q", "update", "--init", "--recursive"]
    proc = _git([*submodules, "--depth=1"])
    if proc.returncode != 0:  # a server with no shallow fetch (git's dumb HTTP): take them whole
        proc = _git(submodules)
        if proc.returncode != 0:
            raise _failure(src, proc)
    if not keep_git_dir:
        _drop_git_entries(dest)


def _drop_git_entries(top: str) -> None:
    import shutil  # git sources only, as subprocess above

    for root, dirs, files in os.walk(top):
        if ".git" in dirs:
            dirs.remove(".git")
            shutil.rmtree(os.path.join(root, ".git"))
        if ".git" in files:
            os.unlink(os.path.join(root, ".git"))
