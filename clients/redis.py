"""Redis adapter: one asyncio client per process, built on demand."""

from __future__ import annotations

import redis.asyncio as aioredis

from settings import Settings

# Connections per process; callers beyond this wait for one instead of failing with
# "Too many connections" under a burst of concurrent requests.
MAX_CONNECTIONS = 64
POOL_TIMEOUT_S = 5.0


def connect(settings: Settings) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool(
        host=settings.redis_host,
        port=settings.redis_port,
        decode_responses=True,
        socket_connect_timeout=3,
        health_check_interval=30,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_TIMEOUT_S,
    )
    # from_pool: the client owns the pool, so aclose() also closes its connections.
    return aioredis.Redis.from_pool(pool)
