"""`photostream services status` against the real Kafka, Cassandra and Redis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.disruptive]

REPO = Path(__file__).resolve().parents[3]


def photostream(*args: str) -> subprocess.CompletedProcess[str]:
    # A subprocess, as users run it: exit codes and detached services are part of the contract.
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "services", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="module", autouse=True)
def services_up() -> None:
    result = photostream("up")
    assert result.returncode == 0, result.stderr


def test_status_exits_zero_when_all_three_answer() -> None:
    result = photostream("status")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("kafka", "cassandra", "redis"):
        line = next(line for line in result.stdout.splitlines() if line.startswith(name))
        assert "answering" in line


def test_up_again_is_a_no_op() -> None:
    result = photostream("up")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("already running") == 3


def test_status_names_the_service_that_is_down() -> None:
    try:
        stopped = photostream("down", "--only", "redis")
        assert stopped.returncode == 0, stopped.stderr
        result = photostream("status")
        assert result.returncode == 1
        assert "not answering: redis" in result.stderr
        redis_line = next(line for line in result.stdout.splitlines() if line.startswith("redis"))
        assert "stopped" in redis_line
        kafka_line = next(line for line in result.stdout.splitlines() if line.startswith("kafka"))
        assert "answering" in kafka_line
    finally:
        restarted = photostream("up")
        assert restarted.returncode == 0, restarted.stderr
    assert photostream("status", "--only", "redis").returncode == 0
