"""Loopback ports: is one open, who holds it (from /proc/net/tcp), and the conflict message.

``listening_inodes`` is pure, so the /proc parsing is unit-tested on sample text.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from launcher.errors import PortConflictError
from launcher.processes import process_cmdline


def listening_inodes(proc_net_tcp: str, port: int) -> set[int]:
    """Socket inodes in LISTEN state on ``port``, from the text of /proc/net/tcp or tcp6."""
    inodes: set[int] = set()
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, state, inode = fields[1], fields[3], fields[9]
        # state 0A is TCP_LISTEN; the port is the hex suffix of local_address
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
            inodes.add(int(inode))
    return inodes


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class PortOwner:
    pid: int
    cmdline: str


def port_owner(port: int) -> PortOwner | None:
    """The process listening on ``port``, found through /proc (None if not visible)."""
    inodes: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            inodes |= listening_inodes(Path(table).read_text(), port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        pid = int(proc.name)
                        return PortOwner(pid=pid, cmdline=process_cmdline(pid))
    return None


def describe_owner(owner: PortOwner | None) -> str:
    if owner is None:
        return "another process (not visible in /proc)"
    command = owner.cmdline
    if len(command) > 160:
        # keep both ends: the program, and for a JVM the main class and its config
        command = command[:60] + " ... " + command[-90:]
    return f"pid {owner.pid} ({command})"


def check_ports_free(host: str, ports: Mapping[str, int], *, service: str) -> None:
    """Raise PortConflictError naming every port of ``service`` that something else holds."""
    held = [(label, port) for label, port in ports.items() if port_open(host, port)]
    if not held:
        return
    by_owner: dict[str, list[str]] = {}
    for label, port in held:
        by_owner.setdefault(describe_owner(port_owner(port)), []).append(f"{port} ({label})")
    lines = [
        f"{'ports' if len(names) > 1 else 'port'} {', '.join(names)} held by {owner}"
        for owner, names in by_owner.items()
    ]
    raise PortConflictError(
        f"cannot start {service}: " + "; ".join(lines) + ". Stop that process, or move "
        f"{service} to other ports with the PHOTOSTREAM_* port settings."
    )
