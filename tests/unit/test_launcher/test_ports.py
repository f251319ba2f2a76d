"""Port-conflict detection and pid bookkeeping, against loopback sockets and this process."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.errors import PortConflictError
from launcher.logs import tail_text
from launcher.ports import check_ports_free, describe_owner, listening_inodes, port_owner
from launcher.processes import managed_pid, pid_alive

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2384 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41001 1
   1: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41002 1
   2: 0100007F:2384 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 41003 1
   3: 00000000:2384 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41004 1
"""


def test_listening_inodes_takes_listeners_on_the_port_only() -> None:
    # 0x2384 = 9092; row 2 is an ESTABLISHED connection (01), row 1 is port 6379
    assert listening_inodes(PROC_NET_TCP, 9092) == {41001, 41004}
    assert listening_inodes(PROC_NET_TCP, 6379) == {41002}
    assert listening_inodes(PROC_NET_TCP, 1) == set()


@pytest.fixture
def listener() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_port_owner_finds_this_process(listener: int) -> None:
    owner = port_owner(listener)
    assert owner is not None
    assert owner.pid == os.getpid()
    assert str(owner.pid) in describe_owner(owner)


def test_conflict_names_port_label_and_process(listener: int) -> None:
    with pytest.raises(PortConflictError) as raised:
        check_ports_free("127.0.0.1", {"client": listener}, service="redis")
    message = str(raised.value)
    assert f"port {listener} (client)" in message
    assert f"pid {os.getpid()}" in message
    assert raised.value.exit_code == 4


def test_free_ports_pass() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    free_port = sock.getsockname()[1]
    sock.close()
    check_ports_free("127.0.0.1", {"client": free_port}, service="redis")


def test_managed_pid_requires_a_live_process_running_in_the_home(tmp_path: Path) -> None:
    pid_file = tmp_path / "svc.pid"
    assert managed_pid(pid_file, tmp_path) is None
    pid_file.write_text(f"{os.getpid()}\n")
    # alive, but its working directory is elsewhere: a recycled pid, not ours
    assert pid_alive(os.getpid())
    assert managed_pid(pid_file, tmp_path) is None
    assert managed_pid(pid_file, Path.cwd()) == os.getpid()
    pid_file.write_text("not a pid")
    assert managed_pid(pid_file, Path.cwd()) is None


def test_tail_text_shortens_long_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("\n".join(f"line {n}" for n in range(30)) + "\n" + "c" * 1000 + "\n")
    text = tail_text(log, count=3, width=50)
    assert text.splitlines()[0].strip() == "line 28"
    assert text.endswith("c" * 50 + " ...")
    assert "missing" in tail_text(tmp_path / "absent.log")
