"""The worker's health monitor without a broker: states, progress, stalls and decode errors."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

import agents  # noqa: F401  (registers every table with the app)
from streams import health
from streams.app import app
from streams.health import FAILED, RECOVERING, SERVING, STARTING, HealthMonitor


class FakeRecovery:
    def __init__(self) -> None:
        self.in_recovery = False
        self.remaining = 0
        self.stats: dict[Any, Any] = {}

    def active_remaining_total(self) -> int:
        return self.remaining

    def active_stats(self) -> dict[Any, Any]:
        return self.stats


class FakeTables(dict):  # type: ignore[type-arg]
    def __init__(self, **tables: Any) -> None:
        super().__init__(**tables)
        self.recovery = FakeRecovery()


def _table(name: str) -> Any:
    topic = SimpleNamespace(get_topic_name=lambda: f"ns-{name}-changelog")
    return SimpleNamespace(name=name, changelog_topic=topic, key_type=str, value_type=None)


@pytest.fixture
def monitor(monkeypatch: pytest.MonkeyPatch) -> HealthMonitor:
    fake_app = SimpleNamespace(
        tables=FakeTables(follow_edges=_table("follow_edges")), rebalancing_count=0
    )
    m = HealthMonitor(fake_app, namespace="ns", stall_timeout_s=30)  # type: ignore[arg-type]
    failures: list[str] = []
    m.failures = failures  # type: ignore[attr-defined]

    def fail(reason: str) -> None:  # no SIGTERM to the test process
        failures.append(reason)
        m.health.reason = reason
        m.health.enter(FAILED, "stopping")

    monkeypatch.setattr(m, "fail", fail)
    return m


async def _changelog_records(m: HealthMonitor, n: int) -> None:
    for _ in range(n):
        await m.on_changelog_event(object())


async def test_a_recovery_moves_from_starting_to_serving_with_its_counts(
    monitor: HealthMonitor,
) -> None:
    assert monitor.health.state == STARTING
    monitor.on_rebalance_started()
    assert monitor.health.state == RECOVERING
    monitor.app.tables.recovery.in_recovery = True
    monitor.app.tables.recovery.remaining = 40
    await _changelog_records(monitor, 60)
    monitor.observe(now=1.0)
    assert monitor.health.recovered_records == 60
    assert monitor.health.remaining_records == 40
    assert "60 records read, 40 remaining" in monitor.health.detail
    await _changelog_records(monitor, 40)
    monitor.on_recovery_done()
    snapshot = monitor.health.snapshot()
    assert snapshot["state"] == SERVING
    assert snapshot["recovered_records"] == 100
    assert snapshot["remaining_records"] == 0
    assert snapshot["recoveries"] == 1
    assert snapshot["last_recovery_s"] is not None


async def test_a_recovery_without_progress_fails_after_the_timeout(monitor: HealthMonitor) -> None:
    monitor.on_rebalance_started()
    monitor.app.tables.recovery.in_recovery = True
    tp = TP(topic="ns-follow_edges-changelog", partition=3)
    monitor.app.tables.recovery.stats = {tp: SimpleNamespace(offset=17, highwater=90)}
    monitor.observe(now=100.0)
    await _changelog_records(monitor, 1)
    monitor.observe(now=120.0)  # progress: the clock restarts
    monitor.observe(now=149.0)
    assert monitor.failures == []  # type: ignore[attr-defined]
    monitor.observe(now=151.0)
    [reason] = monitor.failures  # type: ignore[attr-defined]
    assert "no progress for 30 s while recovering" in reason
    assert "follow_edges partition 3 at offset 17 of 90" in reason


def test_a_serving_worker_never_fails_for_being_idle(monitor: HealthMonitor) -> None:
    monitor.on_rebalance_started()
    monitor.on_recovery_done()
    monitor.observe(now=0.0)
    monitor.observe(now=10_000.0)
    assert monitor.health.state == SERVING
    assert monitor.failures == []  # type: ignore[attr-defined]


def test_an_undecodable_record_fails_naming_table_partition_and_offset(
    monitor: HealthMonitor,
) -> None:
    message = SimpleNamespace(topic="ns-follow_edges-changelog", partition=2, offset=41)
    monitor.on_decode_error(message.topic, ValueError("not JSON"), message)
    [reason] = monitor.failures  # type: ignore[attr-defined]
    assert reason == (
        "table follow_edges: the changelog record at ns-follow_edges-changelog[2]@41 "
        "cannot be decoded: not JSON"
    )


def test_the_type_check_refuses_a_table_faust_cannot_read_back() -> None:
    flags = SimpleNamespace(name="flags", key_type=str, value_type=bool)
    assert health.unsupported_table_types([flags]) == ["flags: value_type bool cannot be read back"]
    assert health.unsupported_table_types(app.tables.values()) == []
