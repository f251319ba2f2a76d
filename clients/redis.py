"""Redis adapter: one asyncio client per process, built on demand."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

import redis.asyncio as aioredis

from settings import Settings

# Connections per process; callers beyond this wait for one instead of failing with
# "Too many connections" under a burst of concurrent requests.
MAX_CONNECTIONS = 64
POOL_TIMEOUT_S = 5.0
# Commands per pipelined round trip: amortises the trips, keeps replies bounded.
PIPELINE_CHUNK = 2000


def connect(settings: Settings) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool(
        host=settings.redis_host,
        port=settings.redis_port,
        decode_responses=True,
        # RESP2: redis-py speaks RESP3 by default and converts every reply back to the
        # RESP2 shapes (scores formatted to text and parsed again), a cost per element.
        protocol=2,
        socket_connect_timeout=3,
        health_check_interval=30,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_TIMEOUT_S,
    )
    # from_pool: the client owns the pool, so aclose() also closes its connections.
    return aioredis.Redis.from_pool(pool)


async def pipelined(
    redis: aioredis.Redis,
    commands: Iterable[Callable[[Any], object]],
    *,
    chunk: int = PIPELINE_CHUNK,
) -> list[Any]:
    """Queue each ``command(pipe)`` on a pipeline, ``chunk`` per round trip; all replies."""
    replies: list[Any] = []
    it = iter(commands)
    while batch := list(islice(it, chunk)):
        async with redis.pipeline(transaction=False) as pipe:
            for command in batch:
                command(pipe)
            replies.extend(await pipe.execute())
    return replies
