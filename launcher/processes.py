"""Detached service processes: pid files, liveness through /proc, spawning and stopping.

A pid file only counts when its process runs from the service's home, so a recycled pid
is never mistaken for the service (``managed_pid``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # the state letter follows the parenthesised command name
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def process_cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def process_cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def managed_pid(pid_file: Path, home: Path) -> int | None:
    """The pid in ``pid_file`` if it is alive and is ours.

    Every service runs with its home as working directory, so a recycled pid that now
    belongs to an unrelated process is not mistaken for the service.
    """
    pid = read_pid(pid_file)
    if pid is None or not pid_alive(pid):
        return None
    cwd = process_cwd(pid)
    if cwd is not None and not is_within(cwd, home.resolve()):
        return None
    return pid


def is_within(path: Path, root: Path) -> bool:
    """``path`` is ``root`` or below it (Redis, for one, changes into its data dir)."""
    return path == root or root in path.parents


def spawn(
    cmd: list[str], *, cwd: Path, log_file: Path, env: Mapping[str, str] | None = None
) -> int:
    """Start a detached process that outlives the CLI; stdout and stderr go to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # Truncated per start, so a failure report shows this run only.
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            close_fds=True,
        )
    return process.pid


def wait_for_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap if we happen to be the parent
        time.sleep(0.1)
    return not pid_alive(pid)


def stop_pid(pid: int, *, timeout_s: float, name: str) -> None:
    """SIGTERM, wait up to ``timeout_s`` for a clean exit, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_for_exit(pid, timeout_s):
        return
    logger.warning("%s (pid %d) ignored SIGTERM for %.0f s; killing it", name, pid, timeout_s)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_for_exit(pid, 10.0)
