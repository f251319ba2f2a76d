"""Jobs for the process-pool tests; module-level so a spawned child can import them."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from media.errors import MediaRejected


def echo(data: bytes, *, suffix: bytes = b"") -> tuple[int, bytes]:
    return os.getpid(), data + suffix


def pid() -> int:
    return os.getpid()


def reject() -> None:
    raise MediaRejected("corrupt", "the bytes are wrong")


def buggy() -> None:
    raise ZeroDivisionError("a bug in a job")


def hang(seconds: float) -> None:
    time.sleep(seconds)


def hang_with_child(pid_file: str) -> None:
    """Start a grandchild (as ffmpeg would be) and get stuck."""
    proc = subprocess.Popen(["sleep", "60"])
    Path(pid_file).write_text(str(proc.pid))
    time.sleep(60)


def crash() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def hog(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def count(n: int) -> Iterator[int]:
    yield from range(n)


def count_then_reject(n: int) -> Iterator[int]:
    yield from range(n)
    raise MediaRejected("too_long", "past the limit")
