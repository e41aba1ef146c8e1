"""/etc/resolv.conf and /etc/hosts as freight gives them to containers."""

from __future__ import annotations

from pathlib import Path

from freight.runtime.hostfiles import resolv_conf, write_host_files


def test_loopback_nameservers_are_dropped_without_host_network(tmp_path: Path) -> None:
    source = tmp_path / "resolv.conf"
    source.write_text("search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions ndots:2\n")
    text = resolv_conf(False, str(source))
    assert text == "search example.org\nnameserver 10.0.0.2\noptions ndots:2\n"
    assert resolv_conf(True, str(source)) == source.read_text()


def test_only_loopback_nameservers_fall_back_to_dockers_defaults(tmp_path: Path) -> None:
    source = tmp_path / "resolv.conf"
    source.write_text("nameserver 127.0.0.53\nnameserver ::1\n")
    assert resolv_conf(False, str(source)) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_host_files_written(tmp_path: Path) -> None:
    write_host_files(str(tmp_path), "abc123", host_network=False)
    assert (tmp_path / "hostname").read_text() == "abc123\n"
    assert (tmp_path / "hosts").read_text().startswith("127.0.0.1\tlocalhost\n")
    assert (tmp_path / "resolv.conf").exists()
