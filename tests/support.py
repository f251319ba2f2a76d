"""Helpers for tests on the real services: processes, polling, tokens."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(
        f"timed out after {timeout_s:.0f} s waiting for {what} (last value: {last!r})"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """A ``photostream`` verb run as a child process with its own environment and log."""

    def __init__(self, args: list[str], *, env: dict[str, str], log_file: Path) -> None:
        self.args = args
        self.env = env
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", *self.args],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait_for_log(self, needle: str, *, timeout_s: float, after: int = 0) -> None:
        """Wait until ``needle`` appears in the log past character ``after``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if needle in self.log()[after:]:
                return
            if not self.alive():
                raise AssertionError(f"{self.args[0]} exited early:\n{self.tail()}")
            time.sleep(0.2)
        raise AssertionError(
            f"{self.args[0]} did not log {needle!r} in {timeout_s:.0f} s:\n{self.tail()}"
        )

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.returncode()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        return self.returncode()

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no final commit (crash tests)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class Worker(Process):
    """``photostream worker`` with its own health port; ready once ``/healthz`` says serving."""

    def __init__(self, *, env: dict[str, str], log_file: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        super().__init__(
            ["worker"],
            env={**env, "PHOTOSTREAM_WORKER_WEB_PORT": str(self.port)},
            log_file=log_file,
        )

    def health(self) -> dict[str, object] | None:
        """The worker's health document, or None while nothing answers."""
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).json()  # type: ignore[no-any-return]
        except (httpx.HTTPError, ValueError):
            return None

    def start_and_wait(self, timeout_s: float = 120.0) -> Worker:
        self.start()
        self.wait_serving(timeout_s)
        return self

    def wait_serving(self, timeout_s: float = 120.0) -> dict[str, object]:
        def serving() -> dict[str, object] | None:
            if not self.alive():
                raise AssertionError(f"worker exited early ({self.returncode()}):\n{self.tail()}")
            health = self.health()
            return health if health and health.get("state") == "serving" else None

        return wait_until(serving, timeout_s=timeout_s, interval_s=0.2, what="the worker to serve")


class Api(Process):
    def __init__(self, *, env: dict[str, str], log_file: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        super().__init__(["api", "--port", str(self.port)], env=env, log_file=log_file)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_and_wait(self, timeout_s: float = 60.0) -> Api:
        self.start()

        def healthy() -> bool:
            if not self.alive():
                raise AssertionError(f"api exited early:\n{self.tail()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout_s=timeout_s, interval_s=0.3, what="the API to report healthy")
        return self
