"""Profiles: Redis first, Cassandra behind it (and the cache refilled on a miss)."""

from __future__ import annotations

import redis.asyncio as aioredis

from clients.cassandra import Db
from domain.clock import to_ms
from schemas.redis_keys import RedisKeys
from schemas.views import UserPublic

_SELECT = "SELECT username, display_name, is_private, updated_at FROM users WHERE user_id = ?"


async def get_user(
    redis: aioredis.Redis, db: Db, keys: RedisKeys, user_id: str
) -> UserPublic | None:
    cached = await redis.hgetall(keys.user(user_id))
    if cached:
        return UserPublic(
            user_id=user_id,
            username=cached.get("username", ""),
            display_name=cached.get("display_name", ""),
            is_private=cached.get("is_private") == "1",
        )
    rows = await db.execute(_SELECT, (user_id,))
    if not rows:
        return None
    row = rows[0]
    updated_ms = to_ms(row.updated_at) if row.updated_at else 0
    # HSETNX-style refill: never overwrite a newer profile the worker wrote meanwhile.
    await redis.eval(
        "if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end",
        1,
        keys.user(user_id),
        "username",
        row.username or "",
        "display_name",
        row.display_name or "",
        "is_private",
        "1" if row.is_private else "0",
        "updated_at",
        str(updated_ms),
    )
    return UserPublic(
        user_id=user_id,
        username=row.username or "",
        display_name=row.display_name or "",
        is_private=bool(row.is_private),
    )
