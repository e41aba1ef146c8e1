"""Every command's failures through the real CLI: one clear line, Docker's exit code, no traceback,
and nothing half-written in the store.

Exit codes follow the docker CLI: 1 for a failed command, 125 for usage errors and for
``run``/``create`` engine failures, 126/127 when a container's command cannot run, 130
after Ctrl-C. The failing cases share one busybox store: none of them may change it, and
the store is compared (images, containers, blobs, snapshots, temporary files) after each.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from imagelib import import_busybox, tar_bytes, tar_members, tar_of
from testlib import (
    FREIGHT,
    QuietHandler,
    free_port,
    freight_env,
    freight_process,
    require_root,
    require_tool,
    run_freight,
    serve_http,
    stop_http,
)

USAGE = "usage"  # expected kind: Docker's two-line usage error, exit 125
ERROR = "error"  # expected kind: one "Error..." line on stderr
UNKNOWN = "unknown"  # expected kind: Docker's two lines for a command it does not have, exit 1


class Env:
    """One busybox store, the bad inputs the cases read, and a runner."""

    def __init__(self, root: Path, files: Path, closed_port: int, garbage_port: int) -> None:
        self.root, self.files = root, files
        self.closed, self.garbage = f"127.0.0.1:{closed_port}", f"127.0.0.1:{garbage_port}"

    def expand(self, word: str) -> str:
        for name, value in (("files", str(self.files)), ("closed", self.closed), ("garbage", self.garbage)):
            word = word.replace(f"{{{name}}}", value)
        return word

    def run(self, *args: str, stdin: Path | None = None, root: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        return run_freight(root or self.root, *args, stdin=stdin, env={"HOME": str(self.files / "home")},
                           cwd=self.files, timeout=timeout)

    def state(self) -> dict[str, list[str]]:
        """What a failed command must not change."""
        listing = {}
        for part in ("blobs", "snapshots", "tmp", "containers"):
            top = self.root / part
            listing[part] = sorted(str(p.relative_to(top)) for p in top.rglob("*")) if top.exists() else []
        with closing(sqlite3.connect(f"file:{self.root / 'metadata.db'}?mode=ro", uri=True)) as db:
            for table, column in (("images", "id"), ("tags", "name"), ("containers", "id"),
                                  ("snapshots", "chain_id"), ("volumes", "name")):
                listing[table] = sorted(row[0] for row in db.execute(f"SELECT {column} FROM {table}"))
        return listing


class _HTMLHandler(QuietHandler):
    """A web server where a registry should be: every request gets a 200 HTML page."""

    def _page(self) -> None:
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _page


def _make_files(files: Path, busybox: Path) -> None:
    (files / "home").mkdir()
    (files / "emptydir").mkdir()
    (files / "garbage.tar").write_bytes(b"this is not a tar archive\n")
    (files / "plain.txt").write_text("hello\n")
    whole = io.BytesIO()
    with tarfile.open(fileobj=whole, mode="w") as tar:
        tar.add(busybox / "bin", arcname="bin")
    (files / "truncated.tar").write_bytes(whole.getvalue()[:3000])
    (files / "hostile-layer.tar").write_bytes(tar_of({"../../escape": b"x"}))
    manifest = b'[{"Config":"../../etc/passwd","RepoTags":["hostile:1"],"Layers":["../../x"]}]'
    (files / "hostile-archive.tar").write_bytes(tar_of({"manifest.json": manifest}))
    ctx = files / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nBOGUS instruction\n")
    (files / "fromgarbage").mkdir()
    (files / "fromgarbage" / "Dockerfile").write_text("FROM {garbage}/x\n")


def _damage_largest_blob(archive: Path, corrupt: Path, missing: Path) -> None:
    """Copies of a ``save`` archive: its layer blob with one bit flipped, and without it."""
    with tarfile.open(archive) as tar:
        entries = tar.getmembers()
    contents = tar_members(archive.read_bytes())
    layer = max(contents, key=lambda name: len(contents[name]))
    contents[layer] = bytes([contents[layer][0] ^ 1]) + contents[layer][1:]
    corrupt.write_bytes(tar_bytes((m, contents.get(m.name)) for m in entries))
    missing.write_bytes(tar_bytes((m, contents.get(m.name)) for m in entries if m.name != layer))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, busybox_rootfs: Path) -> Iterator[Env]:
    from freight.store import open_store
    require_root()
    base = tmp_path_factory.mktemp("errors")
    root, files = base / "root", base / "files"
    files.mkdir()
    import_busybox(open_store(root), busybox_rootfs)
    server = serve_http(_HTMLHandler)
    e = Env(root, files, free_port(), server.server_address[1])
    _make_files(files, busybox_rootfs)
    ctx = files / "fromgarbage" / "Dockerfile"
    ctx.write_text(e.expand(ctx.read_text()))
    e.run("save", "busybox", "-o", str(files / "busybox.tar")).check_returncode()
    (files / "truncated-save.tar").write_bytes((files / "busybox.tar").read_bytes()[:100_000])
    _damage_largest_blob(files / "busybox.tar", files / "corrupt-blob.tar", files / "missing-blob.tar")
    yield e
    stop_http(server)


# (arguments, stdin file or None, exit code, kind, message fragment)
CASES: list[tuple[str, str | None, int, str, str]] = [
    # images / image ls
    ("images --filter bogus=1", None, 1, ERROR, "invalid filter 'bogus=1'"),
    ("images -f dangling=maybe", None, 1, ERROR, "invalid filter 'dangling=maybe'"),
    ("images -f before=nosuch", None, 1, ERROR, "No such image: nosuch"),
    ("images --format {{.Nope}}", None, 1, ERROR, "can't evaluate field Nope"),
    ("images --format {{", None, 1, ERROR, "template parsing error: template: :1: unclosed action"),
    ("images --format '{{.ID}} {{end}}'", None, 1, ERROR, "unexpected {{end}}"),
    ("images --bogus", None, 125, USAGE, "unknown flag: --bogus"),
    ("image ls --bogus", None, 125, USAGE, "unknown flag: --bogus"),
    ("image bogus", None, 125, USAGE, "invalid choice: 'bogus'"),
    # tag, rmi, history, inspect
    ("tag nosuch foo", None, 1, ERROR, "No such image: nosuch"),
    ("tag busybox UPPER", None, 1, ERROR, "repository name (library/UPPER) must be lowercase"),
    ("tag busybox a::b", None, 1, ERROR, "invalid reference format"),
    ("tag busybox", None, 125, USAGE, "required: TARGET_IMAGE"),
    ("tag busybox x:1 extra", None, 125, USAGE, "unexpected argument: extra"),
    ("rmi nosuch", None, 1, ERROR, "No such image: nosuch"),
    ("rmi a::b", None, 1, ERROR, "invalid reference format"),
    # (once deleted busybox:latest)
    ("rmi busybox@", None, 1, ERROR, "Error response from daemon: invalid reference format"),
    ("rmi busybox:", None, 1, ERROR, "Error response from daemon: invalid reference format"),
    ("rmi @sha256:", None, 1, ERROR, "Error response from daemon: invalid reference format"),
    ("tag busybox:latest@ x", None, 1, ERROR, "Error: invalid reference format"),
    ("tag busybox x/", None, 1, ERROR, "Error: invalid reference format"),
    ("rmi", None, 125, USAGE, "required: IMAGE"),
    ("image rm nosuch", None, 1, ERROR, "No such image: nosuch"),
    ("history nosuch", None, 1, ERROR, "No such image: nosuch"),
    ("history --format {{.Nope}} busybox", None, 1, ERROR, "can't evaluate field Nope"),
    ("history -H maybe busybox", None, 125, USAGE, "invalid choice: 'maybe'"),
    ("inspect nosuch", None, 1, ERROR, "No such object: nosuch"),
    ("inspect --type image nosuch", None, 1, ERROR, "No such image: nosuch"),
    ("inspect --type container nosuch", None, 1, ERROR, "No such container: nosuch"),
    ("container inspect nosuch", None, 1, ERROR, "No such container: nosuch"),
    ("container inspect busybox", None, 1, ERROR, "No such container: busybox"),
    ("inspect --type volume nosuch", None, 1, ERROR, "No such volume: nosuch"),
    ("inspect UPPER", None, 1, ERROR, "must be lowercase"),
    ("inspect --format {{.Nope}} busybox", None, 1, ERROR, "can't evaluate field Nope"),
    ("inspect --type bogus busybox", None, 125, USAGE, "invalid choice: 'bogus'"),
    ("inspect", None, 125, USAGE, "required: NAME|ID"),
    ("image inspect nosuch", None, 1, ERROR, "No such image: nosuch"),
    ("image prune --bogus", None, 125, USAGE, "unknown flag: --bogus"),
    # import
    ("import /nonexistent", None, 1, ERROR, "open /nonexistent: no such file or directory"),
    ("import {files}/garbage.tar", None, 1, ERROR, "layer tar"),
    ("import {files}/truncated.tar", None, 1, ERROR, "truncated"),
    ("import -", "{files}/truncated.tar", 1, ERROR, "truncated"),
    ("import {files}/hostile-layer.tar hostile:1", None, 1, ERROR, '"../../escape" escapes the target'),
    ("import {files}/emptydir UPPER", None, 1, ERROR, "must be lowercase"),
    ("import -c 'BOGUS x' {files}/emptydir", None, 1, ERROR, "unknown instruction: BOGUS"),
    ("import http://{closed}/rootfs.tar", None, 1, ERROR, "failed to download"),
    ("import", None, 125, USAGE, "required: file|URL|-"),
    # save, load
    ("save nosuch -o {files}/out.tar", None, 1, ERROR, "No such image: nosuch"),
    ("save busybox -o {files}/nodir/out.tar", None, 1, ERROR, 'directory "{files}/nodir" does not exist'),
    ("save busybox -o {files}/emptydir", None, 1, ERROR, "Is a directory"),
    ("save", None, 125, USAGE, "required: IMAGE"),
    ("load -i /nonexistent", None, 1, ERROR, "open /nonexistent: no such file or directory"),
    ("load -i {files}/garbage.tar", None, 1, ERROR, "invalid archive"),
    ("load -i {files}/truncated-save.tar", None, 1, ERROR, "invalid archive: unexpected end of data"),
    ("load", "{files}/truncated-save.tar", 1, ERROR, "invalid archive: unexpected end of data"),
    ("load", None, 1, ERROR, "invalid archive: empty input"),
    ("load -i {files}/hostile-archive.tar", None, 1, ERROR, "invalid archive"),
    ("load -i {files}/corrupt-blob.tar", None, 1, ERROR, "does not match sha256:"),
    ("load -i {files}/missing-blob.tar", None, 1, ERROR, "is missing"),
    ("load -i {files}/emptydir", None, 1, ERROR, "no manifest.json or index.json found"),
    ("image load -i {files}/plain.txt", None, 1, ERROR, "invalid archive"),
    # run, create (engine failures exit 125, the container's command 126/127)
    ("run --memory=abc busybox true", None, 125, USAGE, 'invalid argument "abc" for "-m, --memory" flag'),
    ("run --cpus=x busybox true", None, 125, USAGE, 'invalid argument "x" for "--cpus" flag'),
    ("run -p 99999:80 busybox true", None, 125, USAGE, "hostPort: 99999"),
    ("run --ulimit nofile=x busybox true", None, 125, USAGE, 'invalid argument "nofile=x" for "--ulimit"'),
    ("run --pids-limit x busybox true", None, 125, USAGE, '"--pids-limit" flag'),
    ("run --mount type=bogus busybox true", None, 125, USAGE, "unsupported mount type: bogus"),
    ("run --env-file /nonexistent busybox true", None, 125, USAGE, "open /nonexistent: no such file"),
    ("run -w relative busybox true", None, 125, USAGE, "needs to be an absolute path"),
    ("run --stop-signal BOGUS busybox true", None, 125, USAGE, "Invalid signal: BOGUS"),
    ("create --cpuset-cpus abc busybox", None, 125, ERROR, "Invalid value abc for cpuset cpus"),
    ("create --tmpfs relative busybox", None, 125, ERROR, "'relative' mount path must be absolute"),
    ("create --expose x busybox", None, 125, USAGE, "invalid range format for --expose: x"),
    ("create --expose 80/bogus busybox", None, 125, USAGE, "invalid proto: bogus"),
    ("run --pull sometimes busybox true", None, 125, USAGE, "invalid choice: 'sometimes'"),
    ("run --bogus busybox", None, 125, USAGE, "unknown flag: --bogus"),
    ("run", None, 125, USAGE, "the following arguments are required: IMAGE\n"),
    ("run --pull never nosuch true", None, 125, ERROR, "No such image: nosuch"),
    ("run UPPER true", None, 125, ERROR, "must be lowercase"),
    ("run a::b true", None, 125, ERROR, "invalid reference format"),
    ("run busybox@ true", None, 125, ERROR, "Error: invalid reference format"),
    ("run --name bad! busybox true", None, 125, ERROR, "Invalid container name (bad!)"),
    ("run --network nosuchnet busybox true", None, 125, ERROR, "network nosuchnet not found"),
    ("run {closed}/x true", None, 125, ERROR, "connection refused"),
    ("run --pull always {garbage}/x true", None, 125, ERROR, "not JSON"),
    ("create --memory=abc busybox", None, 125, USAGE, 'for "-m, --memory" flag'),
    ("create --pull never nosuch", None, 125, ERROR, "No such image: nosuch"),
    ("create", None, 125, USAGE, "the following arguments are required: IMAGE\n"),
    # container commands on a missing container
    ("stop nosuch", None, 1, ERROR, "No such container: nosuch"),
    ("stop -t x nosuch", None, 125, USAGE, "invalid int value: 'x'"),
    ("kill nosuch", None, 1, ERROR, "No such container: nosuch"),
    ("kill -s BOGUS nosuch", None, 1, ERROR, "Invalid signal: BOGUS"),
    ("wait nosuch", None, 1, ERROR, "No such container: nosuch"),
    ("rm nosuch", None, 1, ERROR, "No such container: nosuch"),
    ("exec nosuch true", None, 1, ERROR, "No such container: nosuch"),
    ("exec", None, 125, USAGE, "the following arguments are required: CONTAINER\n"),
    ("exec nosuch", None, 125, USAGE, "'exec' requires at least 2 arguments"),
    ("logs nosuch", None, 1, ERROR, "No such container: nosuch"),
    ("ps -f colour=red", None, 1, ERROR, "invalid filter 'colour=red'"),
    ("logs --since never nosuch", None, 1, ERROR, "No such container: nosuch"),
    ("ps --bogus", None, 125, USAGE, "unknown flag: --bogus"),
    ("ps -a --format {{.Nope}}", None, 0, "", ""),  # no rows: Docker prints nothing as well
    # registry client: a closed port and a web server that is not a registry
    ("pull {closed}/x:latest", None, 1, ERROR, '/v2/": connection refused'),
    ("pull UPPER", None, 1, ERROR, "must be lowercase"),
    ("pull a::b", None, 1, ERROR, "invalid reference format"),
    ("pull oci:/nonexistent", None, 1, ERROR, "open /nonexistent: no such file or directory"),
    ("pull docker-archive:{files}/truncated-save.tar", None, 1, ERROR, "invalid archive"),
    ("pull {garbage}/x:latest", None, 1, ERROR, "manifest for x:latest is not JSON"),
    ("pull", None, 125, USAGE, "required: NAME"),
    ("push nosuch", None, 1, ERROR, "An image does not exist locally with the tag: nosuch"),
    ("push UPPER", None, 1, ERROR, "must be lowercase"),
    ("push busybox {closed}/x:latest", None, 1, ERROR, "connection refused"),
    ("push busybox {garbage}/x:latest", None, 1, ERROR, "unexpected status"),
    ("push", None, 125, USAGE, "required: NAME"),
    ("login --password-stdin {closed}", None, 1, ERROR, "Must provide --username with --password-stdin"),
    ("registry serve --addr bogus", None, 1, ERROR, "invalid listen address 'bogus'"),
    ("registry serve --addr 127.0.0.1:99999", None, 1, ERROR, "invalid listen address '127.0.0.1:99999'"),
    ("registry serve --htpasswd /nonexistent", None, 1, ERROR, "no such file: /nonexistent"),
    ("registry serve --upload-timeout x", None, 125, USAGE, "invalid float value: 'x'"),
    # build (failures exit 1; Docker's error box names the Dockerfile line)
    ("build /nonexistent", None, 1, ERROR, 'unable to prepare context: path "/nonexistent" not found'),
    ("build {files}/ctx", None, 1, ERROR, "dockerfile parse error on line 2: unknown instruction: BOGUS"),
    ("build -f /nonexistent {files}/ctx", None, 1, ERROR, "open /nonexistent: no such file or directory"),
    ("build -t UPPER {files}/ctx", None, 1, ERROR, "must be lowercase"),
    ("build --secret bogus {files}/ctx", None, 1, ERROR, "invalid secret 'bogus'"),
    ("build -o type=bogus {files}/ctx", None, 1, ERROR, "unsupported output type 'bogus'"),
    ("build {files}/plain.txt", None, 1, ERROR, "not a directory or a valid tar archive"),
    ("build {files}/fromgarbage", None, 1, ERROR, "is not JSON"),
    ("build --progress bogus {files}/ctx", None, 125, USAGE, "invalid choice: 'bogus'"),
    ("build", None, 125, USAGE, "required: PATH | URL | -"),
    ("builder prune --bogus", None, 125, USAGE, "unknown flag: --bogus"),
    # system and the top level
    ("system bogus", None, 125, USAGE, "invalid choice: 'bogus'"),
    ("system df --bogus", None, 125, USAGE, "unknown flag: --bogus"),
    ("--bogus", None, 125, USAGE, "unknown flag: --bogus"),
    ("bogus", None, 1, UNKNOWN, "'bogus' is not a freight command."),
]


def test_pull_all_tags_from_a_server_that_is_not_a_registry(env: Env) -> None:
    result = env.run("pull", "-a", f"{env.garbage}/x")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def _usage_prog(args: list[str]) -> str:
    """The command a usage error must point at: freight plus the command words before the bad one."""
    from freight.cli.main import build_parser

    words = ["freight"]
    parser = build_parser(args)
    for word in args:
        sub = parser._subparsers
        choices = sub._group_actions[0].choices if sub else {}  # type: ignore[attr-defined]
        if word not in choices:
            break
        words.append(word)
        parser = choices[word]
    return " ".join(words)


@pytest.mark.parametrize("line, stdin, code, kind, fragment", CASES, ids=[c[0] for c in CASES])
def test_error_path(env: Env, line: str, stdin: str | None, code: int, kind: str, fragment: str) -> None:
    import shlex

    args = [env.expand(word) for word in shlex.split(line)]
    before = env.state()
    result = env.run(*args, stdin=Path(env.expand(stdin)) if stdin else None)
    err = result.stderr
    assert "Traceback" not in err, err
    assert result.returncode == code, (result.returncode, err)
    assert env.expand(fragment) in err, err
    lines = err.splitlines()
    if kind == USAGE:
        assert lines == [lines[0], f"See '{_usage_prog(args)} --help'."], err
        assert lines[0].startswith("freight: ")
    elif kind == ERROR:
        errors = [n for n in lines if n.startswith(("Error", "ERROR"))]
        assert len(errors) == 1 and env.expand(fragment) in errors[0], err
        if args[0] not in ("build", "create", "run"):  # build's progress, run's "Unable to find image"
            assert len(lines) == 1, err
    elif kind == UNKNOWN:
        assert lines == [f"freight: {fragment}", "See 'freight --help'"], err
    assert env.state() == before


def test_store_is_consistent_after_the_failures(env: Env) -> None:
    result = env.run("system", "check")
    assert result.returncode == 0, result.stderr


def test_no_arguments_prints_usage(env: Env) -> None:
    result = env.run()
    assert result.returncode == 0 and result.stdout.startswith("Usage:  freight [OPTIONS] COMMAND\n")


@pytest.mark.parametrize("group", ["image", "system", "registry", "builder"])
def test_group_without_subcommand_prints_its_help(env: Env, group: str) -> None:
    result = env.run(group)
    assert result.returncode == 0 and result.stderr.startswith(f"Usage:  freight {group} COMMAND\n")


def _all_commands() -> list[str]:
    from freight.cli.main import build_parser

    found: list[str] = []

    def walk(parser: object, prefix: str) -> None:
        sub = parser._subparsers  # type: ignore[attr-defined]
        if sub is None:
            return
        seen: set[int] = set()
        for name, child in sub._group_actions[0].choices.items():
            if id(child) not in seen:  # aliases share a parser
                seen.add(id(child))
                found.append(f"{prefix}{name}")
                walk(child, f"{prefix}{name} ")

    walk(build_parser([]), "")
    return found


def test_every_command_is_listed() -> None:
    commands = _all_commands()
    for name in ("images", "run", "image ls", "image load", "system check", "registry serve", "builder prune"):
        assert name in commands


@pytest.mark.parametrize("command", _all_commands())
def test_help(command: str) -> None:
    result = subprocess.run([str(FREIGHT), *command.split(), "--help"], capture_output=True, text=True,
                            timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage:  freight {command}"), result.stdout[:200]
    assert "Traceback" not in result.stderr


def _bind_read_only(source: Path, target: Path) -> None:
    target.mkdir()
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)


@pytest.mark.parametrize("line, code", [("images", 1), ("inspect busybox", 1), ("rmi busybox", 1),
                                        ("load -i {files}/busybox.tar", 1), ("run busybox true", 125)])
def test_read_only_store(env: Env, tmp_path: Path, line: str, code: int) -> None:
    import shutil

    copy, mounted = tmp_path / "copy", tmp_path / "ro"
    shutil.copytree(env.root, copy, symlinks=True)
    with closing(sqlite3.connect(copy / "metadata.db")) as db:  # closed cleanly: no -wal and -shm files,
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")          # so sqlite cannot open it read-only
    assert not (copy / "metadata.db-shm").exists()
    _bind_read_only(copy, mounted)
    try:
        result = env.run(*env.expand(line).split(), root=mounted)
    finally:
        subprocess.run(["umount", str(mounted)], check=True)
    assert "Traceback" not in result.stderr
    assert result.returncode == code
    assert result.stderr.startswith("Error: cannot open the store database") and str(mounted) in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("inside", ["", "sub"])
def test_root_that_is_a_file(env: Env, inside: str) -> None:
    root = env.files / "plain.txt" / inside if inside else env.files / "plain.txt"
    result = env.run("images", root=root)
    assert result.returncode == 1
    assert result.stderr == f"Error: cannot use {root} as the store root: not a directory\n"


@pytest.mark.parametrize("args", [["load"], ["import", "-"]])
def test_ctrl_c_exits_130_quietly(env: Env, args: list[str]) -> None:
    """SIGINT while a command waits on its input: exit 130, no traceback, nothing left behind."""
    before = env.state()
    read_end, write_end = os.pipe()
    proc = freight_process(env.root, *args, stdin=read_end, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    os.close(read_end)
    try:
        os.write(write_end, (env.files / "busybox.tar").read_bytes()[:2048])
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        os.close(write_end)
    assert proc.returncode == 130 and err == "", err
    assert env.state() == before


def test_store_database_that_is_not_sqlite(env: Env, tmp_path: Path) -> None:
    (tmp_path / "metadata.db").write_bytes(b"not a database " * 10)
    result = env.run("images", root=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"Error: cannot open the store database {tmp_path / 'metadata.db'}: " \
                            "file is not a database\n"


@pytest.mark.parametrize("line, code, message", [
    ("images", 1, "{root}"),
    ("run busybox true", 125, "{root}"),
    ("--root {tmp}/new images", 1, "Permission denied: {tmp}/new"),
])
def test_store_the_user_cannot_write(env: Env, tmp_path: Path, line: str, code: int, message: str) -> None:
    """An unprivileged user on root's store: one line, the right code."""
    setpriv = require_tool("setpriv", "util-linux")
    os.chmod(tmp_path, 0o755)
    args = line.replace("{tmp}", str(tmp_path)).split()
    message = message.replace("{tmp}", str(tmp_path)).replace("{root}", str(env.root))
    runtime = Path(tempfile.mkdtemp(prefix="freight-nobody-run-"))  # where its user namespace's pause
    os.chown(runtime, 65534, 65534)  # process records itself (the test's parents are private to root)
    try:
        result = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", str(FREIGHT), *args],
                                capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                                env=freight_env(env.root, FREIGHT_RUNTIME_DIR=str(runtime)))
    finally:
        pause = runtime / "userns.pid"
        if pause.exists():  # started for this test only: stopped by its PID
            os.kill(int(pause.read_text()), signal.SIGKILL)
        shutil.rmtree(runtime)
    if "Permission denied" in result.stderr and "freight" in result.stderr.split(":")[0]:
        pytest.skip("the unprivileged user cannot run freight from this checkout")
    assert "Traceback" not in result.stderr
    assert result.returncode == code
    assert result.stderr.startswith("Error: ") and message in result.stderr and result.stderr.count("\n") == 1
