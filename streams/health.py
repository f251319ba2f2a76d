"""The worker's health: starting → recovering → serving, or failed; never a silent wait.

Before any agent runs, Faust rebuilds every table from its changelog. When it cannot
decode a record it logs a warning and waits for that record forever, and a recovery
that stops moving (a broker that went away, a stuck fetch) looks the same from outside.
So the worker watches its own recovery:

- ``unsupported_table_types`` refuses at start a table whose values Faust's serializer
  registry could not read back (it knows int, float, Decimal, str, bytes and models).
- ``Health`` is what an operator sees: the state, records recovered and remaining, how
  long the last recovery took and why the worker failed, at ``GET /healthz`` on the
  worker's web port (``photostream worker status`` reads it).
- ``HealthMonitor`` logs a changelog record it cannot decode as an error naming the
  table, partition and offset, fails the worker on it, and fails it when it has made no
  progress for ``recovery_stall_timeout_s`` while not serving. A failed worker stops
  (leaving its group) and exits with ``EXIT_CANNOT_SERVE``, so a supervisor restarts it
  and a person sees why.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import faust
from faust.types import ModelT
from faust.web import Request, Response, View
from mode import Service

logger = logging.getLogger(__name__)

STARTING, RECOVERING, SERVING, FAILED = "starting", "recovering", "serving", "failed"

# Exit code of a worker that could not rebuild its state (see ``photostream worker --help``).
EXIT_CANNOT_SERVE = 5
# How often the monitor looks at Faust's recovery (seconds).
WATCH_INTERVAL_S = 0.5
# A failed worker that has not finished stopping by then exits anyway (seconds).
FAILED_EXIT_GRACE_S = 15.0

# What Faust's serializer registry can load back (faust/serializers/registry.py).
_LOADABLE = (None, int, float, Decimal, str, bytes)


def unsupported_table_types(tables: Iterable[Any]) -> list[str]:
    """Tables whose key or value type Faust could write but never read back."""
    problems = []
    for table in tables:
        for role in ("key_type", "value_type"):
            typ = getattr(table, role)
            loadable = typ in _LOADABLE or (isinstance(typ, type) and issubclass(typ, ModelT))
            if not loadable:
                problems.append(
                    f"{table.name}: {role} {getattr(typ, '__name__', typ)} cannot be read back"
                )
    return problems


def _iso(epoch_s: float | None) -> str | None:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat() if epoch_s else None


@dataclass
class Health:
    """The worker's state as an operator sees it."""

    namespace: str
    state: str = STARTING
    detail: str = "waiting for a partition assignment"
    started_at: float = field(default_factory=time.time)
    state_since: float = field(default_factory=time.time)
    recoveries: int = 0  # recoveries finished (one per rebalance)
    recovered_records: int = 0  # changelog records read by the current or last recovery
    remaining_records: int = 0
    last_recovery_s: float | None = None
    reason: str | None = None

    def enter(self, state: str, detail: str) -> None:
        if state != self.state:
            self.state_since = time.time()
        self.state, self.detail = state, detail

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "detail": self.detail,
            "namespace": self.namespace,
            "pid": os.getpid(),
            "started_at": _iso(self.started_at),
            "state_since": _iso(self.state_since),
            "recoveries": self.recoveries,
            "recovered_records": self.recovered_records,
            "remaining_records": self.remaining_records,
            "last_recovery_s": self.last_recovery_s,
            "reason": self.reason,
        }


class HealthMonitor(Service):
    """Follows Faust's recovery; fails the worker on an unreadable record or a stall."""

    def __init__(self, app: faust.App, *, namespace: str, stall_timeout_s: float) -> None:
        super().__init__()
        self.app = app
        self.health = Health(namespace=namespace)
        self.stall_timeout_s = stall_timeout_s
        self._records = 0  # changelog records read since start, every recovery
        self._recovery_started: float | None = None
        self._records_at_start = 0
        self._progress_marker: tuple[Any, ...] = ()
        self._progress_at = time.monotonic()

    @property
    def failed(self) -> bool:
        return self.health.state == FAILED

    # --- hooks called by Faust ------------------------------------------------------

    async def on_changelog_event(self, event: Any) -> None:
        """Every table's ``on_changelog_event``: one more record read back."""
        self._records += 1

    def on_decode_error(self, topic: str, exc: Exception, message: Any) -> None:
        """A changelog record that cannot be decoded: the table cannot be rebuilt."""
        table = self._table_of(topic)
        self.fail(
            f"table {table}: the changelog record at {topic}[{message.partition}]@"
            f"{message.offset} cannot be decoded: {exc}"
        )

    def on_rebalance_started(self) -> None:
        """Partitions are being revoked: a rebalance, then a recovery, begins."""
        self._recovery_started = time.monotonic()
        self._records_at_start = self._records
        if not self.failed:
            self.health.enter(RECOVERING, "rebalancing: waiting for the group's assignment")

    def on_recovery_done(self) -> None:
        """Every assigned table is rebuilt; agents resume."""
        now, health = time.monotonic(), self.health
        took = now - (self._recovery_started or now)
        health.recovered_records = self._records - self._records_at_start
        health.remaining_records = 0
        health.last_recovery_s = round(took, 3)
        health.recoveries += 1
        self._recovery_started = None
        if self.failed:
            return
        health.enter(SERVING, "processing events")
        logger.info(
            "serving: recovered %d changelog records of %d tables in %.1f s",
            health.recovered_records,
            len(self.app.tables),
            took,
        )

    # --- the watch --------------------------------------------------------------------

    @Service.task
    async def _watch(self) -> None:
        while not self.should_stop:
            if not self.failed:
                self.observe(time.monotonic())
            await self.sleep(WATCH_INTERVAL_S)

    def observe(self, now: float) -> None:
        """Report recovery progress; fail a worker not serving that makes none."""
        health, recovery = self.health, self.app.tables.recovery
        if health.state == RECOVERING:
            health.recovered_records = self._records - self._records_at_start
            if recovery.in_recovery:
                health.remaining_records = recovery.active_remaining_total()
                health.detail = (
                    f"reading changelogs: {health.recovered_records} records read, "
                    f"{health.remaining_records} remaining"
                )
        marker = (health.state, self.app.rebalancing_count, self._records)
        if marker != self._progress_marker:
            self._progress_marker, self._progress_at = marker, now
        elif health.state != SERVING and now - self._progress_at > self.stall_timeout_s:
            self.fail(
                f"no progress for {self.stall_timeout_s:.0f} s while {health.state} "
                f"({health.detail}){self._stuck_partitions()}"
            )

    def _stuck_partitions(self) -> str:
        stats = self.app.tables.recovery.active_stats()
        if not stats:
            return ""
        parts = [
            f"{self._table_of(tp.topic)} partition {tp.partition} at offset {s.offset} of {s.highwater}"
            for tp, s in sorted(stats.items())[:5]
        ]
        return "; behind: " + ", ".join(parts)

    def _table_of(self, topic: str) -> str:
        for table in self.app.tables.values():
            if table.changelog_topic.get_topic_name() == topic:
                return str(table.name)
        return topic

    # --- failing ----------------------------------------------------------------------

    def fail(self, reason: str) -> None:
        """Log why, stop the worker as SIGTERM would, and make sure the process ends."""
        if self.failed:
            return
        logger.error("worker cannot serve: %s; stopping (exit code %d)", reason, EXIT_CANNOT_SERVE)
        self.health.reason = reason
        self.health.enter(FAILED, "stopping")
        backstop = threading.Timer(FAILED_EXIT_GRACE_S, os._exit, args=(EXIT_CANNOT_SERVE,))
        backstop.daemon = True
        backstop.start()
        os.kill(os.getpid(), signal.SIGTERM)


class MonitoredTopic(faust.Topic):
    """Faust's topic, reporting a record it cannot decode to the health monitor.

    Source topics carry raw bytes (``streams.codecs`` validates them), so in practice
    only changelog records reach this.
    """

    monitor: HealthMonitor | None = None

    async def on_decode_error(self, exc: Exception, message: Any) -> None:
        await super().on_decode_error(exc, message)
        if MonitoredTopic.monitor is not None:
            MonitoredTopic.monitor.on_decode_error(message.topic, exc, message)


def install(app: faust.App, *, namespace: str, stall_timeout_s: float) -> HealthMonitor:
    """Watch ``app``'s tables and serve ``GET /healthz``; returns the monitor to start."""
    problems = unsupported_table_types(app.tables.values())
    if problems:
        raise TypeError("tables Faust cannot recover: " + "; ".join(problems))
    monitor = HealthMonitor(app, namespace=namespace, stall_timeout_s=stall_timeout_s)
    MonitoredTopic.monitor = monitor
    for table in app.tables.values():
        # Faust keeps the table's ``on_changelog_event=`` option here.
        table._on_changelog_event = monitor.on_changelog_event

    @app.on_partitions_revoked.connect
    async def _revoked(sender: Any, revoked: Any, **_: Any) -> None:
        monitor.on_rebalance_started()

    @app.on_rebalance_complete.connect
    async def _recovered(sender: Any, **_: Any) -> None:
        monitor.on_recovery_done()

    @app.page("/healthz")
    class HealthView(View):
        async def get(self, request: Request) -> Response:
            snapshot = monitor.health.snapshot()
            return self.json(snapshot, status=200 if snapshot["state"] == SERVING else 503)

    return monitor
