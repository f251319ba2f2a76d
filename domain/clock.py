"""Time as the project counts it: epoch milliseconds, microsecond versions, UTC datetimes.

Events carry ``occurred_at`` (a UTC datetime); tables, Redis scores and cursors carry
epoch milliseconds; Cassandra write times are microseconds. These are the only
conversions between them. ``now_ms`` is the one reader of the wall clock: adapters
(agents, sinks, routes) call it and hand the value to the domain, which never reads
the clock itself.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

SECOND_MS = 1000
HOUR_MS = 3600 * SECOND_MS
DAY_MS = 24 * HOUR_MS


def now_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return int(time.time() * 1000)


def to_ms(moment: datetime) -> int:
    """A datetime (naive is taken as UTC) in epoch milliseconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def to_micros(moment: datetime) -> int:
    """A datetime in epoch microseconds (Cassandra's write-time unit)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def from_ms(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def ms_to_micros(ms: int) -> int:
    return ms * 1000
