"""Waiting for a started service to answer a real request, or failing with its logs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from launcher.errors import StartTimeoutError
from launcher.logs import describe_logs

T = TypeVar("T")


@dataclass
class Attempt:
    """The outcome of the last readiness probe, kept for the timeout message."""

    error: str = ""
    tries: int = field(default=0)


def wait_until(
    probe: Callable[[], T],
    *,
    timeout_s: float,
    alive: Callable[[], bool],
    what: str,
    log_files: Callable[[], list[Path]],
    max_interval_s: float = 1.0,
) -> T:
    """Call ``probe`` until it returns without raising; fail early if the process died.

    ``log_files`` is asked for at failure time: which logs explain it depends on how far
    the service got.
    """
    deadline = time.monotonic() + timeout_s
    attempt = Attempt()
    while True:
        attempt.tries += 1
        try:
            return probe()
        except Exception as exc:  # any client error means "not ready yet"
            attempt.error = f"{type(exc).__name__}: {exc}"
        if not alive():
            raise StartTimeoutError(f"{what} exited during startup; {describe_logs(log_files())}")
        if time.monotonic() >= deadline:
            raise StartTimeoutError(
                f"{what} did not answer within {timeout_s:.0f} s (last error: {attempt.error}). "
                "It is left running: `services up` waits for it again, `services down` stops "
                f"it. {describe_logs(log_files())}"
            )
        # Poll fast at first (Redis answers in ~0.1 s), then back off to spare the CPU.
        time.sleep(min(max_interval_s, 0.05 * 2**attempt.tries))
