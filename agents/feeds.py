"""Durable copies of the feeds that changed, every ``feed_snapshot_interval_s``."""

from __future__ import annotations

import logging

from sinks import connections
from sinks.feeds import flush_feed_snapshots
from streams.app import app, settings

logger = logging.getLogger(__name__)


@app.timer(settings.feed_snapshot_interval_s)
async def flush_feed_candidates() -> None:
    # A timer that raises stops the worker: failures are logged and retried next tick.
    try:
        written = await flush_feed_snapshots(connections)
        if written:
            logger.debug("copied %d feeds to Cassandra", written)
    except Exception:
        logger.exception("feed snapshot flush failed; retrying next interval")
