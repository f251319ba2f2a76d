"""The worker's connections to Redis and Cassandra, opened on first use.

Imports declare, startup connects: nothing here opens a socket until an agent or
timer first writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from clients import cassandra as cassandra_client
from clients import redis as redis_client
from schemas.redis_keys import RedisKeys
from settings import Settings

logger = logging.getLogger(__name__)


class Connections:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = RedisKeys(settings.namespace)
        self._db: cassandra_client.Db | None = None
        self._redis: aioredis.Redis | None = None
        self._lock = asyncio.Lock()

    async def db(self) -> cassandra_client.Db:
        if self._db is None:
            async with self._lock:
                if self._db is None:
                    self._db = await cassandra_client.open_db(self.settings)
                    logger.info(
                        "connected to Cassandra keyspace %s", self.settings.cassandra_keyspace
                    )
        return self._db

    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = redis_client.connect(self.settings)
        return self._redis

    async def execute(self, cql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await (await self.db()).execute(cql, params)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
        if self._db is not None:
            self._db.close()
