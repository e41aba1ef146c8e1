"""Rootless freight: the real ``freight`` run by ordinary users, from the environment
``scripts/setup.sh`` makes for them (Debian's Python, outside any private home).

Two test users are made once (kept for later runs): ``freight-rl`` with subordinate
ID ranges in /etc/subuid and /etc/subgid, and ``freight-rl1`` without (the
single-ID mapping). ``rootless`` runs commands as one of them through ``runuser``
with a clean environment (no XDG_RUNTIME_DIR, as under ``su``), a store of the
test's own, and the freight copied fresh from this checkout into that environment.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from testlib import FREIGHT, REPO, machine_network, require_root

RANGED, SINGLE = "freight-rl", "freight-rl1"
RANGE = (100000, 65536)  # only if useradd gave the user none


class Rootless:
    """``freight`` as an ordinary user, on a store (``data``) of the test's own."""

    def __init__(self, env_dir: Path, user: str, home: Path) -> None:
        self.user = user
        self.uid = pwd.getpwnam(user).pw_uid
        self.gid = pwd.getpwnam(user).pw_gid
        self.home = home  # the test's dir, the user's: the store is under it
        self._bin = env_dir / "bin"

    def env(self, **extra: str) -> list[str]:
        base = {"HOME": str(self.home), "PATH": f"{self._bin}:/usr/bin:/bin", "LANG": "C.UTF-8",
                "XDG_DATA_HOME": str(self.home / "data"), **extra}
        return ["/usr/sbin/runuser", "-u", self.user, "--", "env", "-i", *(f"{k}={v}" for k, v in base.items())]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 120, check: bool = False,
                 cwd: Path | None = None, env: dict[str, str] | None = None,
                 prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        """``prefix`` runs before ``runuser`` (as root), e.g. ``machine_network.nsenter()``."""
        result = subprocess.run([*(prefix or []), *self.env(**(env or {})), "freight", *args], input=input,
                                stdin=None if input is not None else subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=timeout, cwd=cwd or self.home)
        if check and result.returncode != 0:
            raise AssertionError(f"freight {' '.join(args)} as {self.user} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def popen(self, *args: str, **popen: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen([*self.env(), "freight", *args], cwd=self.home, **popen)  # type: ignore[call-overload]

    def shared(self, path: Path) -> Path:
        """``path`` (a file or dir root made) readable by the user."""
        for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
            p.chmod(p.stat().st_mode | 0o044 | (0o011 if p.is_dir() else 0))
        return path


def user_env_dir() -> Path:
    """Where setup.sh puts the environment for ordinary users (one per checkout)."""
    if env := os.environ.get("FREIGHT_USER_ENV"):
        return Path(env)
    return Path("/usr/local/lib/freight-user-env") / hashlib.sha1(str(REPO).encode()).hexdigest()[:12]


@pytest.fixture(scope="session")
def user_env() -> Path:
    """The ordinary users' environment, with this checkout's freight in it."""
    require_root()
    env_dir = user_env_dir()
    marker = env_dir / ".pyproject.sha1"
    wanted = hashlib.sha1((REPO / "pyproject.toml").read_bytes()).hexdigest()
    if (not (env_dir / "bin" / "freight").exists() or not marker.exists() or marker.read_text().strip() != wanted
            or not any((env_dir / "lib").glob("python3*/site-packages/docker"))):
        # pip reaches the package index through the machine's network (the session has its own)
        subprocess.run([*machine_network.nsenter(), REPO / "scripts" / "setup.sh"], check=True)
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    with open(env_dir / ".sync.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(site / "freight", ignore_errors=True)
        shutil.copytree(REPO / "freight", site / "freight", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["chmod", "-R", "go+rX", str(env_dir)], check=True)
    return env_dir


def _ensure_users() -> None:
    with open("/run/lock/freight-test-users.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for user, sub in ((RANGED, True), (SINGLE, False)):
            try:
                pwd.getpwnam(user)
            except KeyError:
                counts = [] if sub else ["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"]
                subprocess.run(["/usr/sbin/useradd", "-m", "-s", "/bin/sh", *counts, user], check=True)
            _ranges(user, sub)


def _ranges(user: str, wanted: bool) -> None:
    for path, flag, dele in (("/etc/subuid", "--add-subuids", "--del-subuids"),
                             ("/etc/subgid", "--add-subgids", "--del-subgids")):
        lines = [line.split(":") for line in Path(path).read_text().splitlines() if line.startswith(user + ":")]
        if wanted and not lines:
            subprocess.run(["/usr/sbin/usermod", flag, f"{RANGE[0]}-{RANGE[0] + RANGE[1] - 1}", user], check=True)
        for _, start, count in [] if wanted else lines:
            _stop_pause(pwd.getpwnam(user).pw_uid)
            subprocess.run(["/usr/sbin/usermod", dele, f"{start}-{int(start) + int(count) - 1}", user], check=True)


def _stop_pause(uid: int) -> None:
    """Stop the user's pause process that freight started (its pid is in the runtime dir)."""
    pidfile = Path(f"/tmp/freight-run-{uid}/userns.pid")
    try:
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass


@pytest.fixture(scope="session")
def test_users() -> Iterator[None]:
    require_root()
    _ensure_users()
    yield
    for user in (RANGED, SINGLE):
        _stop_pause(pwd.getpwnam(user).pw_uid)


def _as(user: str, env_dir: Path) -> Iterator[Rootless]:
    uid = pwd.getpwnam(user).pw_uid
    home = Path(tempfile.mkdtemp(prefix=f"{user}-", dir="/tmp"))
    os.chown(home, uid, pwd.getpwnam(user).pw_gid)
    yield Rootless(env_dir, user, home)
    subprocess.run(["/usr/sbin/runuser", "-u", user, "--", f"{env_dir}/bin/freight", "unshare", "rm", "-rf", str(home)],
                   env={"PATH": "/usr/bin:/bin", "HOME": str(home)}, capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def rootless(user_env: Path, test_users: None) -> Iterator[Rootless]:
    """freight as the user with subordinate ranges."""
    yield from _as(RANGED, user_env)


@pytest.fixture
def single_id(user_env: Path, test_users: None) -> Iterator[Rootless]:
    """freight as the user without subordinate ranges (the single-ID mapping)."""
    yield from _as(SINGLE, user_env)


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory, busybox_rootfs: Path) -> Iterator[Path]:
    """``busybox:latest`` as a docker-archive any user can read (saved from a root store)."""
    from imagelib import import_busybox

    from freight.store import open_store

    require_root()
    work = Path(tempfile.mkdtemp(prefix="freight-rl-images-", dir="/tmp"))
    work.chmod(0o755)
    store = open_store(tmp_path_factory.mktemp("rl-root") / "root")
    import_busybox(store, busybox_rootfs)
    subprocess.run([str(FREIGHT), "--root", str(store.root), "save", "-o",
                    str(work / "busybox.tar"), "busybox:latest"], check=True)
    (work / "busybox.tar").chmod(0o644)
    yield work / "busybox.tar"
    shutil.rmtree(work)
