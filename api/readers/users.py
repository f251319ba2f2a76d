"""Profiles: Redis first, Cassandra behind it.

A profile missing from Redis is answered from Cassandra and not written back: the
worker and ``photostream rebuild`` are the only writers of the cache.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from clients.cassandra import Db
from schemas.redis_hashes import ProfileHash
from schemas.redis_keys import RedisKeys
from schemas.views import UserPublic

_SELECT = "SELECT username, display_name, is_private FROM users WHERE user_id = ?"


async def get_user(
    redis: aioredis.Redis, db: Db, keys: RedisKeys, user_id: str
) -> UserPublic | None:
    cached = ProfileHash.from_fields(await redis.hgetall(keys.user(user_id)))
    if cached is not None:
        return UserPublic(
            user_id=user_id,
            username=cached.username,
            display_name=cached.display_name,
            is_private=cached.is_private,
        )
    rows = await db.execute(_SELECT, (user_id,))
    if not rows:
        return None
    row = rows[0]
    return UserPublic(
        user_id=user_id,
        username=row.username or "",
        display_name=row.display_name or "",
        is_private=bool(row.is_private),
    )
