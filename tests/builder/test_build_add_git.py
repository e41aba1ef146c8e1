"""ADD of a git repository served by ``git daemon`` on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from testlib import free_port, require_tool, wait_for_port

from freight.builder.engine import error_report
from freight.builder.gitsource import is_git_url, parse_git_source
from freight.builder.state import BuildError
from freight.store import Store
from tests.builder.buildutil import BASE_TIME, do_build, layer_file, layer_members, write_context

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


@dataclass
class Served:
    work: Path      # the served repository's working tree (repo.git)
    url: str        # git://127.0.0.1:PORT/repo.git
    first: str      # commit of the tag v1.0


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True,
                          check=True)
    return proc.stdout.strip()


def commit_files(work: Path, files: dict[str, str], message: str) -> str:
    write_context(work, files)
    git(work, "add", "--", *files)
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """repo.git (two commits, annotated tag v1.0 on the first, a submodule) and sub.git, under git daemon."""
    require_tool("git", "git")
    base = tmp_path / "git"
    sub = base / "sub.git"
    sub.mkdir(parents=True)
    git(sub, "init", "-q", "-b", "main")
    sub_commit = commit_files(sub, {"inner.txt": "from the submodule\n"}, "sub")
    work = base / "repo.git"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    commit_files(work, {"README": "one\n", "docs/guide.md": "guide v1\n", "bin/tool": "#!/bin/sh\n"}, "first")
    (work / ".gitmodules").write_text('[submodule "mod"]\n\tpath = mod\n\turl = ../sub.git\n')
    git(work, "add", ".gitmodules")
    git(work, "update-index", "--add", "--cacheinfo", f"160000,{sub_commit},mod")
    os.chmod(work / "bin" / "tool", 0o755)
    git(work, "update-index", "--chmod=+x", "bin/tool")
    git(work, "commit", "-q", "-m", "exec bit and submodule")
    first = git(work, "rev-parse", "HEAD")
    git(work, "tag", "-a", "v1.0", "-m", "release")
    commit_files(work, {"README": "two\n", "docs/guide.md": "guide v2\n"}, "second")
    port = free_port()
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", f"--base-path={base}", "--export-all",
                               "--listen=127.0.0.1", f"--port={port}", str(base)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, daemon, timeout=10)
        yield Served(work, f"git://127.0.0.1:{port}/repo.git", first)
    finally:
        os.kill(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=10)


def _names(store: Store, image_id: str) -> set[str]:
    return {n.rstrip("/") for n in layer_members(store, image_id)}


def test_git_url_detection() -> None:
    for yes in ("git://h/r.git", "ssh://git@h/r", "git@github.com:o/r.git", "https://h/o/r.git#v1:docs",
                "http://h:8080/r.git/"):
        assert is_git_url(yes), yes
    for no in ("https://h/file.tar.gz", "https://h/r.git.tar", "dir/r.git", "user@host", "http://h/x#a.git"):
        assert not is_git_url(no), no
    src = parse_git_source("https://h/r.git#v1.0:/docs/")
    assert (src.remote, src.ref, src.subdir) == ("https://h/r.git", "v1.0", "docs")


def test_add_git_tag_with_submodule(busybox_store: Store, tmp_path: Path, served: Served) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM busybox\nADD {served.url}#v1.0 /src\n"})
    result, out = do_build(busybox_store, ctx)
    assert f"load git source {served.url}#v1.0" in out
    members = layer_members(busybox_store, result.image_id)
    names = {n.rstrip("/") for n in members}
    assert names == {"src", "src/README", "src/.gitmodules", "src/docs", "src/docs/guide.md", "src/bin",
                     "src/bin/tool", "src/mod", "src/mod/inner.txt"}
    assert layer_file(busybox_store, result.image_id, "src/README") == b"one\n"
    assert layer_file(busybox_store, result.image_id, "src/mod/inner.txt") == b"from the submodule\n"
    for m in members.values():
        assert (m.uid, m.gid, m.mtime) == (0, 0, BASE_TIME)
    assert members["src/bin/tool"].mode == 0o755 and members["src/README"].mode == 0o644

    (ctx / "Dockerfile").write_text(f"FROM busybox\nADD --keep-git-dir=true --chown=33:33 {served.url}#v1.0 /src\n")
    kept, _ = do_build(busybox_store, ctx)
    members = layer_members(busybox_store, kept.image_id)
    assert "src/.git/HEAD" in members and "src/mod/.git" in members
    assert layer_file(busybox_store, kept.image_id, "src/.git/HEAD").decode().strip() == served.first
    assert {(m.uid, m.gid) for m in members.values()} == {(33, 33)}


def test_add_git_branch_subdir_cache_and_moved_ref(busybox_store: Store, tmp_path: Path, served: Served) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM busybox\nADD {served.url}#main:docs /guide/\n"})
    first, _ = do_build(busybox_store, ctx)
    assert _names(busybox_store, first.image_id) == {"guide", "guide/guide.md"}
    assert layer_file(busybox_store, first.image_id, "guide/guide.md") == b"guide v2\n"
    again, _ = do_build(busybox_store, ctx)
    assert (again.image_id, again.steps_run, again.steps_cached) == (first.image_id, 0, 1)
    assert not [n for n in os.listdir(busybox_store.root) if n.startswith("build-add-")]

    commit_files(served.work, {"docs/guide.md": "guide v3\n"}, "third")
    moved, _ = do_build(busybox_store, ctx)
    assert moved.steps_run == 1
    assert layer_file(busybox_store, moved.image_id, "guide/guide.md") == b"guide v3\n"


def test_add_git_errors(busybox_store: Store, tmp_path: Path, served: Served) -> None:
    dockerfile = f"FROM busybox\nENV A=1\nADD {served.url}#nosuchref /src\n"
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    with pytest.raises(BuildError) as info:
        do_build(busybox_store, ctx)
    assert info.value.exit_code == 1
    report = error_report(info.value)
    assert "Dockerfile:3" in report and "repository does not contain ref nosuchref" in report
    (ctx / "Dockerfile").write_text(f"FROM busybox\nADD {served.url}#main:missing /src\n")
    with pytest.raises(BuildError, match='"/missing": not found'):
        do_build(busybox_store, ctx)
    (ctx / "Dockerfile").write_text(f"FROM busybox\nADD {served.url.replace('repo.git', 'none.git')} /src\n")
    with pytest.raises(BuildError, match="failed to fetch remote") as info:
        do_build(busybox_store, ctx)
    assert info.value.instr is not None and info.value.instr.line == 2
    assert not [n for n in os.listdir(busybox_store.root) if n.startswith("build-add-")]


def test_add_git_cli_exit_status(cli, busybox_store: Store, tmp_path: Path, served: Served) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM busybox\nADD {served.url}#v9 /src\n"})
    proc = cli("build", "--progress=plain", str(ctx))
    assert proc.returncode == 1
    assert "Dockerfile:2" in proc.stderr and "does not contain ref v9" in proc.stderr


def test_a_git_url_is_a_build_context(busybox_store: Store, served: Served, tmp_path: Path) -> None:
    from testlib import run_freight

    commit_files(served.work, {"app/Dockerfile": "FROM busybox\nCOPY guide.md /guide\n",
                               "app/guide.md": "guide from app\n"}, "an app")
    git(served.work, "tag", "v2")
    built = run_freight(busybox_store.root, "build", "-q", "-t", "fromgit", f"{served.url}#v2:app")
    assert built.returncode == 0, built.stderr
    shown = run_freight(busybox_store.root, "run", "--rm", "fromgit", "cat", "/guide", check=True)
    assert shown.stdout == "guide from app\n"
    missing = run_freight(busybox_store.root, "build", f"{served.url}#nosuchref")
    assert missing.returncode == 1 and "does not contain ref nosuchref" in missing.stderr
    assert not list(tmp_path.glob("**/build-context-*"))


def test_a_remote_tar_or_dockerfile_is_a_build_context(busybox_store: Store, tmp_path: Path) -> None:
    import http.server
    import tarfile

    from testlib import run_freight, serve_http, stop_http

    served = tmp_path / "www"
    write_context(served / "src", {"Dockerfile": "FROM busybox\nCOPY hello /hello\n", "hello": "from a tar\n"})
    with tarfile.open(served / "ctx.tar.gz", "w:gz") as tar:
        for name in ("Dockerfile", "hello"):
            tar.add(served / "src" / name, arcname=name)
    (served / "Dockerfile").write_text("FROM busybox\nRUN echo alone > /alone\n")
    class Files(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(served), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = serve_http(Files)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for url, tag, path, text in ((f"{base}/ctx.tar.gz", "fromtar", "/hello", "from a tar\n"),
                                     (f"{base}/Dockerfile", "fromfile", "/alone", "alone\n")):
            built = run_freight(busybox_store.root, "build", "-q", "-t", tag, url)
            assert built.returncode == 0, built.stderr
            assert run_freight(busybox_store.root, "run", "--rm", tag, "cat", path, check=True).stdout == text
        gone = run_freight(busybox_store.root, "build", f"{base}/nosuch.tar")
        assert gone.returncode == 1 and "unable to download remote context" in gone.stderr
    finally:
        stop_http(server)


def test_an_https_git_url_is_a_build_context(busybox_store: Store, served: Served, tmp_path: Path) -> None:
    """``https://…/repo.git#ref:subdir`` from a server with TLS (git's dumb HTTP protocol over
    static files), its certificate trusted through git's own setting."""
    import http.server
    import ssl

    from registries import self_signed_cert
    from testlib import run_freight, serve_http, stop_http

    commit_files(served.work, {"app/Dockerfile": "FROM busybox\nCOPY guide.md /guide\n",
                               "app/guide.md": "guide over https\n"}, "an app")
    git(served.work, "tag", "v3")
    web = tmp_path / "web"
    for name, source in (("repo.git", served.work), ("sub.git", served.work.parent / "sub.git")):
        git(tmp_path, "clone", "-q", "--bare", str(source), str(web / name))
        git(web / name, "update-server-info")
    cert, key = self_signed_cert(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)

    class Files(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(web), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = serve_http(Files, tls)
    url = f"https://127.0.0.1:{server.server_address[1]}/repo.git"
    try:
        untrusted = run_freight(busybox_store.root, "build", f"{url}#v3:app")
        assert untrusted.returncode == 1 and "certificate" in untrusted.stderr
        built = run_freight(busybox_store.root, "build", "-q", "-t", "fromhttps", f"{url}#v3:app",
                            env={"GIT_SSL_CAINFO": str(cert)})
        assert built.returncode == 0, built.stderr
        shown = run_freight(busybox_store.root, "run", "--rm", "fromhttps", "cat", "/guide", check=True)
        assert shown.stdout == "guide over https\n"
    finally:
        stop_http(server)
