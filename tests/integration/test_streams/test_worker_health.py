"""A worker says what it is doing: serving, stopped cleanly, or failed with the reason.

Each test runs its own worker in its own namespace, against the real Kafka.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Producer

from settings import Settings
from tests.support import ROOT, Worker, wait_until


def _status(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "worker", "status", "--port", str(port)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_status_reports_serving_and_sigterm_stops_cleanly(
    namespace_factory: Callable[[str], Settings], tmp_path: Path
) -> None:
    ns = namespace_factory("health")
    worker = Worker(env={"PHOTOSTREAM_NAMESPACE": ns.namespace}, log_file=tmp_path / "w.log")
    worker.start()
    health = worker.wait_serving()
    assert health["namespace"] == ns.namespace and health["recoveries"] == 1

    status = _status(worker.port)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("serving:")
    assert "serving: recovered" in worker.log()

    # Stopped by SIGTERM, not killed after the 30 s grace: a clean exit, the group left.
    assert worker.stop(timeout_s=30) == 0
    assert "LeaveGroup request succeeded" in worker.log()
    assert _status(worker.port).returncode == 3  # nobody answers any more


def test_an_undecodable_changelog_record_fails_the_worker_naming_its_origin(
    namespace_factory: Callable[[str], Settings], tmp_path: Path
) -> None:
    ns = namespace_factory("health")
    worker = Worker(env={"PHOTOSTREAM_NAMESPACE": ns.namespace}, log_file=tmp_path / "w.log")
    worker.start_and_wait()  # creates the changelog topics
    assert worker.stop() == 0

    changelog = f"{ns.namespace}-follower_counts-changelog"
    producer = Producer({"bootstrap.servers": ns.kafka_bootstrap})
    producer.produce(changelog, key=b'"u1"', value=b"not-a-count", partition=2)
    assert producer.flush(10) == 0

    worker.start()
    wait_until(lambda: not worker.alive(), timeout_s=90, what="the worker to give up")
    assert worker.returncode() == 5
    assert (
        f"table follower_counts: the changelog record at {changelog}[2]@0 cannot be decoded"
        in worker.log()
    )
