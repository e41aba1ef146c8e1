"""The image commands through the real CLI: import, images, tag, inspect, history, rmi, prune, df."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from testlib import CLI

from freight.store import Store


@pytest.fixture
def imported(cli: CLI, busybox_rootfs: Path) -> str:
    result = cli("import", "--change", 'CMD ["sh"]', "--change", "ENV A=1", str(busybox_rootfs),
                 "busybox:latest", check=True)
    image_id = result.stdout.strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    return image_id


def test_images_lists_docker_columns(cli: CLI, imported: str) -> None:
    out = cli("images", check=True).stdout.splitlines()
    assert re.fullmatch(r"REPOSITORY +TAG +IMAGE ID +CREATED +SIZE", out[0])
    assert out[0].index("TAG") == 13 and out[0].index("IMAGE ID") == 23
    cells = re.split(r" {3,}", out[1])
    assert cells[:3] == ["busybox", "latest", imported[7:19]]
    assert cells[3].endswith(" ago") and re.fullmatch(r"[\d.]+MB", cells[4])
    assert cli("images", "-q", check=True).stdout == imported[7:19] + "\n"
    assert cli("images", "-q", "--no-trunc", check=True).stdout == imported + "\n"
    digests = cli("images", "--digests", check=True).stdout.splitlines()[0]
    assert "DIGEST" in digests


def test_images_format_and_filters(cli: CLI, imported: str) -> None:
    row = json.loads(cli("images", "--format", "{{json .}}", check=True).stdout)
    assert row["Repository"] == "busybox" and row["Tag"] == "latest" and row["ID"] == imported[7:19]
    table = cli("images", "--format", "table {{.Repository}}:{{.Tag}}\t{{.ID}}", check=True).stdout
    assert table.splitlines()[0].startswith("REPOSITORY:TAG") and "IMAGE ID" in table
    cli("tag", "busybox", "other/name:v1", check=True)
    assert cli("images", "--format", "{{.Repository}}", "other/*", check=True).stdout == "other/name\n"
    assert cli("images", "-q", "--filter", "dangling=true", check=True).stdout == ""
    assert cli("images", "--filter", "bogus=1").returncode == 1


def test_tag_inspect_history(cli: CLI, imported: str) -> None:
    cli("tag", imported[7:15], "localhost:5000/team/app:1.0", check=True)
    info = json.loads(cli("inspect", "busybox", check=True).stdout)
    assert len(info) == 1
    assert info[0]["Id"] == imported
    assert sorted(info[0]["RepoTags"]) == ["busybox:latest", "localhost:5000/team/app:1.0"]
    assert info[0]["Config"]["Cmd"] == ["sh"] and "A=1" in info[0]["Config"]["Env"]
    assert info[0]["RootFS"]["Type"] == "layers" and len(info[0]["RootFS"]["Layers"]) == 1
    assert info[0]["Os"] == "linux" and info[0]["Architecture"]
    fmt = cli("image", "inspect", "--format", "{{.Id}} {{index .Config.Cmd 0}}", "busybox", check=True)
    assert fmt.stdout == f"{imported} sh\n"
    history = cli("history", "busybox", check=True).stdout.splitlines()
    assert re.fullmatch(r"IMAGE +CREATED +CREATED BY +SIZE +COMMENT", history[0])
    assert history[1].startswith(imported[7:19]) and "Imported from -" in history[1]


def test_rmi_untag_then_delete(cli: CLI, imported: str, store: Store) -> None:
    cli("tag", "busybox", "second:tag", check=True)
    assert cli("rmi", "second:tag", check=True).stdout == "Untagged: second:tag\n"
    out = cli("rmi", "busybox", check=True).stdout
    assert "Untagged: busybox:latest" in out and f"Deleted: {imported}" in out
    assert cli("images", "-q", check=True).stdout == ""
    assert list(store.blobs.digests()) == []


def test_prune_and_df_report_space(cli: CLI, imported: str, busybox_rootfs: Path) -> None:
    df = cli("system", "df", check=True).stdout.splitlines()
    assert re.fullmatch(r"TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE", df[0])
    assert re.match(r"Images +1 +0 +[\d.]+MB +[\d.]+MB \((99|100)%\)", df[1])  # not the store's own dirs
    # Re-importing under the same tag with another config leaves the old image dangling.
    cli("import", "--change", "CMD [\"true\"]", str(busybox_rootfs), "busybox:latest", check=True)
    dangling = cli("images", "-q", "--filter", "dangling=true", check=True).stdout.split()
    assert dangling == [imported[7:19]]
    out = cli("image", "prune", "-f", check=True).stdout
    assert f"deleted: {imported}" in out and "Total reclaimed space:" in out
    assert cli("images", "-q", "--filter", "dangling=true", check=True).stdout == ""
    assert cli("images", "-q", check=True).stdout.strip() != ""
    out = cli("system", "prune", "-a", "-f", check=True).stdout
    assert re.search(r"Total reclaimed space: [\d.]+MB", out)
    assert cli("images", "-q", check=True).stdout == ""


def test_prune_asks_first(cli: CLI, imported: str) -> None:
    out = cli("system", "prune", "-a", input="n\n").stdout
    assert "WARNING! This will remove:" in out
    assert cli("images", "-q", check=True).stdout.strip() == imported[7:19]


@pytest.mark.parametrize("args, code, message", [
    (["rmi", "nosuchimage"], 1, "Error response from daemon: No such image: nosuchimage:latest"),
    (["inspect", "nosuchimage"], 1, "Error: No such object: nosuchimage"),
    (["image", "inspect", "nosuchimage"], 1, "Error response from daemon: No such image: nosuchimage:latest"),
    (["tag", "nosuchimage", "x"], 1, "Error response from daemon: No such image: nosuchimage:latest"),
    (["tag", "busybox", "Bad:Name"], 1, "must be lowercase"),
    (["history", "UPPER"], 1, "invalid reference format"),
    (["import", "/no/such/file.tar", "x"], 1, "no such file or directory"),
    (["images", "--bogus"], 125, "unknown flag: --bogus"),
])
def test_errors_are_one_line_with_docker_exit_codes(cli: CLI, imported: str, args: list[str],
                                                     code: int, message: str) -> None:
    result = cli(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") <= 1


def test_import_from_stdin_and_compressed_tar(cli: CLI, busybox_rootfs: Path, tmp_path: Path) -> None:
    tarball = tmp_path / "rootfs.tar.gz"
    subprocess.run(["tar", "-czf", tarball, "-C", busybox_rootfs, "."], check=True)
    from_file = cli("import", str(tarball), "a:1", check=True).stdout.strip()
    from_stdin = cli("import", "-", "b:1", stdin=tarball, check=True).stdout.strip()
    assert from_stdin == from_file
    assert cli("history", "--format", "{{.Comment}}", "b:1", check=True).stdout == "Imported from -\n"


def test_import_from_url(cli: CLI, busybox_rootfs: Path, tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    subprocess.run(["tar", "-czf", served / "rootfs.tgz", "-C", busybox_rootfs, "."], check=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/rootfs.tgz"
        image_id = cli("import", url, "from-url:1", check=True).stdout.strip()
        missing = cli("import", url.replace("rootfs.tgz", "nope.tgz"), "x:1")
    finally:
        server.shutdown()
    assert cli("history", "--format", "{{.Comment}}", "from-url:1", check=True).stdout == f"Imported from {url}\n"
    assert cli("images", "-q", "--no-trunc", "from-url", check=True).stdout == image_id + "\n"
    assert missing.returncode == 1 and "404" in missing.stderr and "Traceback" not in missing.stderr
