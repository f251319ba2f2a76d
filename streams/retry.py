"""Retrying effects: until they land, or a bounded number of times.

Two policies, for two kinds of work:
- ``until_done`` for a batch's durable writes: acking a batch without them would lose
  them, so it never gives up; it logs every failure and backs off.
- ``with_attempts`` for one event's handler: a transient failure (a Cassandra timeout,
  a Redis reconnect) is retried a few times, then the caller dead-letters the event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Between two tries of a batch's writes while a store refuses them (seconds).
UNTIL_DONE_BACKOFF_S = 1.0
# An event's handler: this many tries, the n-th after n × this (seconds).
EVENT_ATTEMPTS = 5
EVENT_BACKOFF_S = 0.2


async def until_done(what: str, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``await fn(*args)`` until it succeeds."""
    while True:
        try:
            return await fn(*args)
        except Exception:
            logger.exception("%s failed; retrying", what)
            await asyncio.sleep(UNTIL_DONE_BACKOFF_S)


async def with_attempts(
    what: str, fn: Callable[..., Awaitable[T]], *args: Any, attempts: int = EVENT_ATTEMPTS
) -> T:
    """``await fn(*args)``, retried; the last failure is raised to the caller."""
    for attempt in range(1, attempts + 1):
        try:
            return await fn(*args)
        except Exception as exc:
            if attempt == attempts:
                raise
            logger.warning("retrying %s after %r", what, exc)
            await asyncio.sleep(EVENT_BACKOFF_S * attempt)
    raise AssertionError("unreachable")
