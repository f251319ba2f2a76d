"""Redis adapter: one asyncio client per process, built on demand."""

from __future__ import annotations

import redis.asyncio as aioredis

from settings import Settings


def connect(settings: Settings) -> aioredis.Redis:
    return aioredis.Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        decode_responses=True,
        socket_connect_timeout=3,
        health_check_interval=30,
    )
