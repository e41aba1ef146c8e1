"""``freight version`` and ``freight info``, in Docker's layouts (``runtime.info``)."""

from __future__ import annotations

import argparse
import platform

from freight import __version__
from freight.cli.format import Template, bytes_size
from freight.cli.main import Subcommands, store
from freight.runtime.info import API_VERSION, engine_info, version_info

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any


def register(sub: Subcommands) -> None:
    p = sub.add("version", cmd_version, help="Show the freight version information")
    p.add_argument("-f", "--format", help="Format output using a custom template")
    p = sub.add("info", cmd_info, help="Display system-wide information")
    p.add_argument("-f", "--format", help="Format output using a custom template")


def _client() -> dict[str, Any]:
    return {"Version": __version__, "ApiVersion": API_VERSION, "DefaultAPIVersion": API_VERSION,
            "GitCommit": "", "GoVersion": "", "PythonVersion": platform.python_version(), "Os": "linux",
            "Arch": version_info()["Arch"], "BuildTime": "", "Context": "default"}


def cmd_version(args: argparse.Namespace) -> int:
    data = {"Client": _client(), "Server": version_info()}
    if args.format:
        Template(args.format).write([data])
        return 0
    client, server = data["Client"], data["Server"]
    print("Client:")
    _rows(" ", [("Version", client["Version"]), ("API version", client["ApiVersion"]),
                ("Python version", client["PythonVersion"]), ("OS/Arch", f"linux/{client['Arch']}"),
                ("Context", "default")], 19)
    print("\nServer:\n Engine:")
    _rows("  ", [("Version", server["Version"]), ("API version", f"{API_VERSION} (minimum version 1.12)"),
                 ("OS/Arch", f"linux/{server['Arch']}"), ("Kernel version", server["KernelVersion"]),
                 ("Daemon", "none (each command works on the store itself)")], 18)
    return 0


def _rows(indent: str, rows: list[tuple[str, object]], width: int) -> None:
    for name, value in rows:
        print(f"{indent}{(name + ':').ljust(width)}{value}")


def cmd_info(args: argparse.Namespace) -> int:
    info = engine_info(store(args))
    if args.format:
        info["ClientInfo"] = {"Version": __version__, "Context": "default", "Debug": False}
        Template(args.format).write([info])
        return 0
    print(f"Client:\n Version:    {__version__}\n Context:    default\n Debug Mode: false\n")
    print("Server:")
    lines = [f" Containers: {info['Containers']}", f"  Running: {info['ContainersRunning']}",
             f"  Paused: {info['ContainersPaused']}", f"  Stopped: {info['ContainersStopped']}",
             f" Images: {info['Images']}", f" Server Version: {info['ServerVersion']}",
             f" Storage Driver: {info['Driver']}",
             *(f"  {k}: {v}" for k, v in info["DriverStatus"]),
             f" Logging Driver: {info['LoggingDriver']}", f" Cgroup Driver: {info['CgroupDriver']}",
             f" Cgroup Version: {info['CgroupVersion']}", " Plugins:",
             *(f"  {k}: {' '.join(v)}" for k, v in info["Plugins"].items() if v),
             " Swarm: inactive", f" Runtimes: {' '.join(sorted(info['Runtimes']))}",
             f" Default Runtime: {info['DefaultRuntime']}", f" Init Binary: {info['InitBinary']}",
             " Security Options:", *(f"  {o.split(',')[0].removeprefix('name=')}" for o in info["SecurityOptions"]),
             f" Kernel Version: {info['KernelVersion']}", f" Operating System: {info['OperatingSystem']}",
             f" OSType: {info['OSType']}", f" Architecture: {info['Architecture']}", f" CPUs: {info['NCPU']}",
             f" Total Memory: {bytes_size(info['MemTotal'])}", f" Name: {info['Name']}",
             f" Docker Root Dir: {info['DockerRootDir']}", " Debug Mode: false", " Experimental: false",
             f" Live Restore Enabled: {str(info['LiveRestoreEnabled']).lower()}"]
    print("\n".join(lines) + "\n")
    return 0
