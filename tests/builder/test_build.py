"""freight build: instructions' effect on the image config, RUN, stages, args, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from testlib import freight_env, processes_mentioning, wait_until

from freight.builder.state import BuildError
from freight.store import Store
from tests.builder.buildutil import config, do_build, layer_file, layer_members, run_dirs, write_context


def test_config_instructions_land_as_docker_writes_them(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
FROM busybox
ARG V=1
ENV A=1 B="two words"
LABEL org.example.x=y version=$A
EXPOSE 80 443/udp
USER nobody
VOLUME /data
WORKDIR /srv/app
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s CMD true
ONBUILD RUN echo later
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT echo hi
CMD ["x", "y"]
"""})
    result, out = do_build(busybox_store, ctx)
    cfg = config(busybox_store, result.image_id)
    c = cfg["config"]
    assert c["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1",
                        "B=two words"]
    assert c["Labels"] == {"org.example.x": "y", "version": "1"}
    assert c["ExposedPorts"] == {"80/tcp": {}, "443/udp": {}}
    assert c["User"] == "nobody"
    assert c["Volumes"] == {"/data": {}}
    assert c["WorkingDir"] == "/srv/app"
    assert c["StopSignal"] == "SIGINT"
    assert c["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}
    assert c["OnBuild"] == ["RUN echo later"]
    assert c["Shell"] == ["/bin/sh", "-ec"]
    assert c["Entrypoint"] == ["/bin/sh", "-ec", "echo hi"]
    assert c["Cmd"] == ["x", "y"]
    assert c["ArgsEscaped"] is True  # a shell-form ENTRYPOINT, as BuildKit marks it
    history = cfg["history"][1:]
    # created_by strings as Docker's BuildKit writes them (checked against docker 20.10 here)
    assert [h["created_by"] for h in history] == [
        "ARG V=1", "ENV A=1 B=two words", "LABEL org.example.x=y version=1",
        "EXPOSE map[443/udp:{} 80/tcp:{}]", "USER nobody", "VOLUME [/data]", "WORKDIR /srv/app",
        "STOPSIGNAL SIGINT", """HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" "0s" '\\x00'}""",
        "ONBUILD RUN echo later", "SHELL [/bin/sh -ec]", 'ENTRYPOINT ["/bin/sh" "-ec" "echo hi"]',
        'CMD ["x" "y"]']
    assert all(h["comment"] == "buildkit.dockerfile.v0" for h in history)
    workdir = [h for h in history if h["created_by"] == "WORKDIR /srv/app"][0]
    assert "empty_layer" not in workdir  # it made /srv/app
    assert sum(1 for h in history if not h.get("empty_layer")) == len(cfg["rootfs"]["diff_ids"]) - 1
    assert "#4 [1/2] FROM docker.io/library/busybox:latest" in out
    assert "\n#5 [2/2] WORKDIR /srv/app\n" in out


def test_run_makes_a_layer_without_mount_stubs(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
FROM busybox
RUN echo hello; mkdir /out && echo data > /out/f && rm /bin/vi
RUN ["/bin/sh", "-c", "echo exec-form"]
"""})
    result, out = do_build(busybox_store, ctx)
    assert "#5 [2/3] RUN echo hello; mkdir /out && echo data > /out/f && rm /bin/vi" in out
    assert "hello\n" in out and "exec-form" in out
    names = set(layer_members(busybox_store, result.image_id, 1))
    assert names == {"out", "out/f", "bin", "bin/.wh.vi"}  # no etc/hosts, etc/resolv.conf stubs
    assert layer_file(busybox_store, result.image_id, "out/f", 1) == b"data\n"
    history = config(busybox_store, result.image_id)["history"]
    assert history[-2]["created_by"] == \
        "RUN /bin/sh -c echo hello; mkdir /out && echo data > /out/f && rm /bin/vi # buildkit"
    assert history[-1]["created_by"] == "RUN /bin/sh -c echo exec-form # buildkit"
    assert history[-1].get("empty_layer") is True  # it changed nothing
    assert run_dirs(busybox_store) == []


def test_heredocs(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
FROM busybox
ARG WHO=world
COPY <<EOF /greeting
hello $WHO
EOF
RUN <<EOT
echo one > /one
echo two > /two
EOT
RUN <<'EOT'
#!/bin/sh
echo "script $0" > /script
EOT
"""})
    result, _ = do_build(busybox_store, ctx)
    assert layer_file(busybox_store, result.image_id, "greeting", 1) == b"hello world\n"
    assert layer_file(busybox_store, result.image_id, "one", 2) == b"one\n"
    assert layer_file(busybox_store, result.image_id, "two", 2) == b"two\n"
    assert layer_file(busybox_store, result.image_id, "script", 3) == b"script /dev/pipes/EOT\n"


def test_build_args_and_their_cache_keys(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
ARG BASE=busybox
FROM $BASE
ARG V=default
ARG UNUSED
RUN echo "v=$V" > /v
ENV FROM_ARG=$V
"""})
    first, _ = do_build(busybox_store, ctx)
    assert layer_file(busybox_store, first.image_id, "v") == b"v=default\n"
    second, out = do_build(busybox_store, ctx, build_args={"V": "given"})
    assert layer_file(busybox_store, second.image_id, "v") == b"v=given\n"
    assert "FROM_ARG=given" in config(busybox_store, second.image_id)["config"]["Env"]
    assert "CACHED" not in out
    history = config(busybox_store, second.image_id)["history"]
    assert history[-2]["created_by"] == 'RUN |1 V=given /bin/sh -c echo "v=$V" > /v # buildkit'
    _, again = do_build(busybox_store, ctx, build_args={"V": "given", "UNUSED": "x"})
    assert "CACHED" not in again  # every ARG in scope is part of a RUN's environment
    _, same = do_build(busybox_store, ctx, build_args={"V": "given", "UNUSED": "x"})
    assert "CACHED" in same


def test_target_builds_only_the_stages_it_needs(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
FROM busybox AS base
RUN echo base > /base

FROM base AS builder
RUN mkdir -p /opt/env/bin && echo tool > /opt/env/bin/tool

FROM busybox AS unused
RUN exit 1

FROM busybox AS other
RUN echo other > /other

FROM busybox
COPY --from=builder /opt/env /opt/env
COPY --from=other /other /other
"""})
    result, out = do_build(busybox_store, ctx)
    assert "RUN exit 1" not in out
    assert "[builder 2/2] RUN mkdir" in out and "[stage-4 2/3] COPY --from=builder" in out
    img = busybox_store.resolve_image(result.image_id)
    assert len(img.layers) == 3  # busybox + two COPY layers, no builder layer
    assert layer_file(busybox_store, result.image_id, "opt/env/bin/tool", 1) == b"tool\n"
    base, out = do_build(busybox_store, ctx, target="builder", tags=["b:1"])
    assert "other" not in out
    assert len(busybox_store.resolve_image("b:1").layers) == 3
    with pytest.raises(BuildError, match='target stage "nope" could not be found'):
        do_build(busybox_store, ctx, target="nope")


def test_run_mount_cache_persists_between_builds(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
FROM busybox
ARG N
RUN --mount=type=cache,target=/cache echo "run $N" >> /cache/log && cat /cache/log > /seen
"""})
    do_build(busybox_store, ctx, build_args={"N": "1"})
    result, _ = do_build(busybox_store, ctx, build_args={"N": "2"})
    assert layer_file(busybox_store, result.image_id, "seen") == b"run 1\nrun 2\n"
    assert "cache" not in layer_members(busybox_store, result.image_id)


def test_run_mounts_bind_secret_tmpfs(busybox_store: Store, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret")
    ctx = write_context(tmp_path / "ctx", {"data.txt": "from context\n", "Dockerfile": """\
FROM busybox AS files
RUN echo staged > /staged

FROM busybox
RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cat /mnt/data.txt > /bound
RUN --mount=type=bind,from=files,source=/staged,target=/s cat /s > /from-stage
RUN --mount=type=secret,id=token --mount=type=secret,id=fromenv,env=TOKEN2 \\
    (cat /run/secrets/token; echo "$TOKEN2"; cat /run/secrets/fromenv) | wc -c > /secret-len
RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && grep -c /scratch /proc/mounts > /tmpfs
"""})
    os.environ["FREIGHT_TEST_SECRET"] = "env-secret"
    try:
        result, _ = do_build(busybox_store, ctx, secrets={"token": {"src": str(secret)},
                                                          "fromenv": {"env": "FREIGHT_TEST_SECRET"}})
    finally:
        del os.environ["FREIGHT_TEST_SECRET"]
    assert layer_file(busybox_store, result.image_id, "bound", 1) == b"from context\n"
    assert layer_file(busybox_store, result.image_id, "from-stage", 2) == b"staged\n"
    # "s3cret" + "env-secret\n": a secret with env= and no target is a variable only, not a file
    assert layer_file(busybox_store, result.image_id, "secret-len", 3).strip() == b"17"
    assert layer_file(busybox_store, result.image_id, "tmpfs", 4) == b"1\n"
    for i in range(1, 5):
        names = set(layer_members(busybox_store, result.image_id, i))
        assert not names & {"mnt/data.txt", "s", "run/secrets/token", "run/secrets/fromenv", "scratch/x"}


def test_run_network_none_has_only_loopback(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
FROM busybox
RUN --network=none ls /sys/class/net > /nets
RUN ls /sys/class/net > /host-nets
"""})
    result, _ = do_build(busybox_store, ctx)
    assert layer_file(busybox_store, result.image_id, "nets", 1) == b"lo\n"
    host_nets = layer_file(busybox_store, result.image_id, "host-nets", 2).decode().split()
    assert host_nets == sorted(os.listdir("/sys/class/net"))


def test_onbuild_triggers_run_in_the_child(busybox_store: Store, tmp_path: Path) -> None:
    parent = write_context(tmp_path / "p", {"Dockerfile": "FROM busybox\nONBUILD RUN echo triggered > /t\n"})
    do_build(busybox_store, parent, tags=["parent:1"])
    child = write_context(tmp_path / "c", {"Dockerfile": "FROM parent:1\n"})
    result, _ = do_build(busybox_store, child)
    assert layer_file(busybox_store, result.image_id, "t") == b"triggered\n"
    assert "OnBuild" not in config(busybox_store, result.image_id)["config"]


CLI_ERRORS = [
    ("FROM busybox\nRUN true\nFOO bar\n",
     ["Dockerfile:3", ">>> FOO bar", "ERROR: failed to solve: dockerfile parse error on line 3: "
      "unknown instruction: FOO"]),
    ("FROM busybox\nCOPY nope /x\n",
     ["Dockerfile:2", ">>> COPY nope /x", 'ERROR: failed to solve: failed to compute cache key: '
      '"/nope": not found']),
    ("FROM busybox\nRUN echo before\nRUN echo oops && exit 3\nRUN echo after\n",
     [" > [3/4] RUN echo oops && exit 3:\n0.", " oops\n------\n", "Dockerfile:3", ">>> RUN echo oops && exit 3",
      'ERROR: failed to solve: process "/bin/sh -c echo oops && exit 3" did not complete successfully: '
      "exit code: 3"]),
    ("FROM busybox\nCOPY --from=nope:1 /x /x\n",
     ["Dockerfile:2", "ERROR: failed to solve: nope:1: failed to resolve source metadata"]),
]


@pytest.mark.parametrize("dockerfile,expected", CLI_ERRORS,
                         ids=["unknown", "missing-copy", "failing-run", "missing-image"])
def test_bad_dockerfiles_fail_like_docker(busybox_store: Store, cli, tmp_path: Path,
                                          dockerfile: str, expected: list[str]) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    images_before = busybox_store.db.execute("SELECT count(*) FROM images").fetchone()[0]
    result = cli("build", "--progress", "plain", "-t", "broken", str(ctx))
    assert result.returncode == 1, result.stderr
    for line in expected:
        assert line in result.stderr
    assert busybox_store.db.execute("SELECT count(*) FROM images").fetchone()[0] == images_before
    assert run_dirs(busybox_store) == []
    with open("/proc/self/mountinfo") as f:
        assert str(busybox_store.root) not in f.read()


def test_cli_quiet_iidfile_labels_and_stdin_dockerfile(busybox_store: Store, cli, tmp_path: Path) -> None:
    iid = tmp_path / "iid"
    result = cli("build", "-q", "--iidfile", str(iid), "--label", "a=b", "-t", "q:1", "-",
                 input="FROM busybox\nCMD [\"true\"]\n")
    assert result.returncode == 0, result.stderr
    image_id = result.stdout.strip()
    assert image_id.startswith("sha256:") and iid.read_text() == image_id
    assert result.stderr == ""
    cfg = busybox_store.resolve_image("q:1").config
    assert cfg["config"]["Labels"] == {"a": "b"} and cfg["config"]["Cmd"] == ["true"]


def test_cli_plain_progress_names_the_image(busybox_store: Store, cli, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo hi\n"})
    result = cli("build", "--progress=plain", "-t", "named", str(ctx))
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert err.startswith("#1 [internal] load build definition from Dockerfile\n")
    assert "#5 [2/2] RUN echo hi\n" in err and "\n#5 DONE " in err
    assert any(line.startswith("#5 0.") and line.endswith(" hi") for line in err.splitlines())
    image_id = busybox_store.resolve_image("named").id
    assert f"writing image {image_id} done" in err
    assert "naming to docker.io/library/named:latest done" in err
    again = cli("build", "--progress=plain", "-t", "named", str(ctx)).stderr
    assert "#5 CACHED" in again


def test_builder_prune_frees_cache(busybox_store: Store, cli, tmp_path: Path) -> None:
    kept = write_context(tmp_path / "kept", {"small": "s", "Dockerfile": "FROM busybox\nCOPY small /\n"})
    do_build(busybox_store, kept, tags=["kept:1"])
    ctx = write_context(tmp_path / "ctx", {"big": os.urandom(200_000), "Dockerfile": "FROM busybox\nCOPY big /\n"})
    result, _ = do_build(busybox_store, ctx)
    busybox_store.images.remove(result.image_id, True)
    count = "SELECT count(*) FROM build_cache"
    declined = cli("builder", "prune", input="n\n")
    assert declined.stdout.startswith("WARNING! This will remove all dangling build cache.")
    assert busybox_store.db.execute(count).fetchone()[0] == 2
    out = cli("builder", "prune", "-f")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Total:\t") and out.stdout.strip() != "Total:\t0B"
    assert busybox_store.db.execute(count).fetchone()[0] == 1  # the layer kept:1 uses stays cached
    _, again = do_build(busybox_store, kept, tags=["kept:1"])
    assert "CACHED" in again
    assert cli("builder", "prune", "-a", "-f").returncode == 0
    assert busybox_store.db.execute(count).fetchone()[0] == 0
    assert busybox_store.resolve_image("kept:1").config["config"]["Cmd"] == ["sh"]


def test_independent_stages_build_concurrently(busybox_store: Store, tmp_path: Path) -> None:
    import time

    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
FROM busybox AS a
RUN sleep 1.5 && echo a > /a

FROM busybox AS b
RUN sleep 1.5 && echo b > /b

FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
"""})
    start = time.monotonic()
    result, _ = do_build(busybox_store, ctx)
    assert time.monotonic() - start < 2.9
    assert layer_file(busybox_store, result.image_id, "a", 1) == b"a\n"
    assert layer_file(busybox_store, result.image_id, "b", 2) == b"b\n"
    assert run_dirs(busybox_store) == []


def test_outputs(busybox_store: Store, tmp_path: Path) -> None:
    import tarfile

    ctx = write_context(tmp_path / "ctx", {"f": "data", "Dockerfile": "FROM busybox\nCOPY f /f\nRUN rm /bin/vi\n"})
    rootfs_tar, local, archive = tmp_path / "rootfs.tar", tmp_path / "local", tmp_path / "image.tar"
    do_build(busybox_store, ctx, outputs=[{"type": "tar", "dest": str(rootfs_tar)},
                                          {"type": "local", "dest": str(local)}])
    with tarfile.open(rootfs_tar) as tar:
        names = set(tar.getnames())
    assert "f" in names and "bin/busybox" in names and "bin/vi" not in names
    assert (local / "f").read_text() == "data" and not (local / "bin" / "vi").exists()
    result, _ = do_build(busybox_store, ctx, tags=["out:1"], outputs=[{"type": "docker", "dest": str(archive)}])
    with tarfile.open(archive) as tar:
        assert {"index.json", "manifest.json", "oci-layout"} <= set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["out:1"]
    assert manifest[0]["Config"].endswith(result.image_id.split(":")[1])


def test_cli_contexts_tar_stdin_and_tty_progress(busybox_store: Store, cli, tmp_path: Path) -> None:
    import subprocess

    ctx = write_context(tmp_path / "ctx", {"f": "hi\n", "Dockerfile": "FROM busybox\nCOPY f /f\n"})
    (tmp_path / "alt.Dockerfile").write_text("FROM busybox\nCOPY f /g\n")
    tar = tmp_path / "ctx.tar"
    subprocess.run(["tar", "-C", str(ctx), "-cf", str(tar), "."], check=True)
    from_dir = cli("build", "-q", str(ctx)).stdout.strip()
    from_file = cli("build", "-q", str(tar)).stdout.strip()
    from_stdin = cli("build", "-q", "-", input=tar.read_bytes().decode("latin-1")).stdout.strip()
    assert from_dir == from_file == from_stdin and from_dir.startswith("sha256:")
    alt = cli("build", "-q", "-f", str(tmp_path / "alt.Dockerfile"), str(ctx)).stdout.strip()
    piped = cli("build", "-q", "-f", "-", str(ctx), input=(tmp_path / "alt.Dockerfile").read_text()).stdout.strip()
    assert alt == piped != from_dir
    tty = cli("build", "--progress=tty", "--no-cache", str(ctx))
    assert tty.returncode == 0, tty.stderr
    assert "[+] Building" in tty.stderr and "=> [2/2] COPY f /f" in tty.stderr


def test_interrupted_build_leaves_no_container(busybox_store: Store, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo started && sleep 31.5\n"})
    env = freight_env(busybox_store.root)
    proc = subprocess.Popen([sys.executable, "-m", "freight.cli.main", "build", "--progress=plain", str(ctx)],
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            if line.rstrip().endswith(" started"):
                break
        # the shell forks sleep after echoing
        assert wait_until(lambda: processes_mentioning("sleep\x0031.5"), interval=0.02)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.2)
    assert processes_mentioning("sleep\x0031.5") == []
    assert run_dirs(busybox_store) == []


def test_run_on_many_layers(busybox_store: Store, tmp_path: Path) -> None:
    """130 layers: the overlay mount options must still fit in one page."""
    lines = ["FROM busybox"] + [f"COPY <<EOF /f{i}\n{i}\nEOF" for i in range(130)] + ["RUN cat /f0 /f129 > /both"]
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "\n".join(lines) + "\n"})
    result, _ = do_build(busybox_store, ctx)
    assert layer_file(busybox_store, result.image_id, "both") == b"0\n129\n"


def test_run_from_scratch_with_a_copied_shell(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
FROM scratch
COPY --from=busybox /bin/busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox echo ok > /ok"]
"""})
    result, _ = do_build(busybox_store, ctx)
    assert layer_file(busybox_store, result.image_id, "ok") == b"ok\n"
    assert config(busybox_store, result.image_id)["config"]["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def test_platform_args_only_once_declared(busybox_store: Store, tmp_path: Path) -> None:
    import platform

    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
FROM busybox
ENV BEFORE=x${TARGETARCH}
ARG TARGETARCH
ENV AFTER=x${TARGETARCH}
"""})
    result, _ = do_build(busybox_store, ctx)
    env = config(busybox_store, result.image_id)["config"]["Env"]
    assert env[-2:] == ["BEFORE=x", f"AFTER=x{arch}"]


def test_opaque_directories_and_whiteouts_carry_through(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
FROM busybox AS base
RUN rm -rf /var && mkdir /var && echo x > /var/only && rm /bin/ls
RUN busybox ls /var > /listing

FROM busybox
COPY --from=base /var /copied-var/
COPY --from=base /listing /
"""})
    result, _ = do_build(busybox_store, ctx, target="base", tags=["opaque:1"])
    names = {n.rstrip("/") for n in layer_members(busybox_store, result.image_id, 1)}
    assert names == {"var", "var/.wh..wh..opq", "var/only", "bin", "bin/.wh.ls"}
    assert layer_file(busybox_store, result.image_id, "listing") == b"only\n"
    final, _ = do_build(busybox_store, ctx)
    assert set(layer_members(busybox_store, final.image_id, 1)) == {"copied-var", "copied-var/only"}


def test_bind_mounts_hide_ignored_files_and_discard_writes(busybox_store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"src/a": "a", "src/secret.key": "k", ".dockerignore": "**/*.key\n",
                                           "Dockerfile": """\
FROM busybox
RUN --mount=type=bind,source=src,target=/src ls /src > /seen
RUN --mount=type=bind,source=src,target=/src,rw echo scribble > /src/a && cat /src/a > /wrote
RUN --mount=type=bind,source=missing,target=/m true
"""})
    with pytest.raises(BuildError, match='"/missing": not found'):
        do_build(busybox_store, ctx)
    (ctx / "Dockerfile").write_text("\n".join((ctx / "Dockerfile").read_text().splitlines()[:3]) + "\n")
    result, _ = do_build(busybox_store, ctx)
    assert layer_file(busybox_store, result.image_id, "seen", 1) == b"a\n"
    assert layer_file(busybox_store, result.image_id, "wrote", 2) == b"scribble\n"
    assert (ctx / "src" / "a").read_text() == "a"  # the context is untouched


def test_missing_context_or_dockerfile_exits_1(busybox_store: Store, cli, tmp_path: Path) -> None:
    missing = cli("build", str(tmp_path / "nope"))
    assert missing.returncode == 1 and 'unable to prepare context: path "' in missing.stderr
    (tmp_path / "empty").mkdir()
    no_file = cli("build", str(tmp_path / "empty"))
    assert no_file.returncode == 1
    assert "failed to read dockerfile: open Dockerfile: no such file or directory" in no_file.stderr


def test_env_replaces_a_variable_where_it_stands(store: Store, tmp_path: Path) -> None:
    """As BuildKit's addEnv: a variable set again keeps its place (checked against BuildKit
    in Docker 20.10); LABEL and ENV lines see the values of the lines before them."""
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """\
FROM scratch
ENV A=1 B=2
ENV A=3 PATH=/x:$PATH C=$A
LABEL b=1 a=2
LABEL b=3 c=$A$B
"""})
    result, _ = do_build(store, ctx)
    c = config(store, result.image_id)["config"]
    assert c["Env"] == ["PATH=/x:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=3", "B=2",
                        "C=1"]
    assert c["Labels"] == {"a": "2", "b": "3", "c": "32"}


def test_duplicate_stage_names_mean_what_they_mean_to_buildkit(busybox_store: Store, tmp_path: Path) -> None:
    """A name means the last stage of that name (``--target``, ``COPY --from``, ``RUN --mount
    from=``); a FROM means the last stage of that name before it, and a later one is an image."""
    ctx = write_context(tmp_path / "ctx", {"one": "one\n", "two": "two\n", "three": "three\n", "Dockerfile": """\
FROM scratch AS a
COPY one /x
FROM scratch AS a
COPY two /x
FROM a AS child
FROM scratch AS a
COPY three /x
FROM busybox AS last
COPY --from=a /x /from-copy
COPY --from=child /x /from-child
RUN --mount=from=a,target=/m cat /m/x > /from-mount
FROM later-stage AS early
FROM scratch AS later-stage
"""})
    target_a, _ = do_build(busybox_store, ctx, target="a")
    assert layer_file(busybox_store, target_a.image_id, "x") == b"three\n"
    child, _ = do_build(busybox_store, ctx, target="child")
    assert layer_file(busybox_store, child.image_id, "x") == b"two\n"
    last, _ = do_build(busybox_store, ctx, target="last")
    assert layer_file(busybox_store, last.image_id, "from-copy", -3) == b"three\n"
    assert layer_file(busybox_store, last.image_id, "from-child", -2) == b"two\n"
    assert layer_file(busybox_store, last.image_id, "from-mount", -1) == b"three\n"
    with pytest.raises(BuildError, match="later-stage: failed to resolve source metadata for "
                                         "docker.io/library/later-stage:latest"):
        do_build(busybox_store, ctx, target="early")
    with pytest.raises(BuildError, match='target stage "0" could not be found'):
        do_build(busybox_store, ctx, target="0")
