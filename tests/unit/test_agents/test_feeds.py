"""flush_feed_candidates without Redis or Cassandra: the durable copy of changed feeds."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import pytest

from agents.feeds import flush_feed_candidates

flush_once = inspect.unwrap(flush_feed_candidates)  # the timer's body, run once


async def test_feed_flush_tick_copies_changed_feeds(harness: Any, sinks: Any) -> None:
    await flush_once()
    assert sinks.writes() == ["flush_feed_snapshots"]


async def test_feed_flush_failure_logged_and_retried_next_tick(
    harness: Any, sinks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sinks.failures["flush_feed_snapshots"] = ConnectionError("cassandra down")
    with caplog.at_level(logging.ERROR, logger="agents.feeds"):
        await flush_once()  # a timer that raised would stop the worker
    assert "feed snapshot flush failed" in caplog.text
    del sinks.failures["flush_feed_snapshots"]
    await flush_once()
    assert sinks.writes() == ["flush_feed_snapshots", "flush_feed_snapshots"]
