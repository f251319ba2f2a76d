"""Engagement reads: exact counts and "did this viewer like it", Redis first.

The counters are exact in the worker's Faust tables and flushed here as absolute
values; a post with no flushed counts yet reads as zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from schemas.redis_keys import RedisKeys
from schemas.views import PostStatsPublic

_FIELDS = ("likes", "comments", "saves", "shares")


async def read_stats(
    redis: aioredis.Redis, keys: RedisKeys, post_ids: Sequence[str]
) -> dict[str, PostStatsPublic]:
    """Counts for many posts in one pipelined round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for post_id in post_ids:
            pipe.hmget(keys.post_stats(post_id), *_FIELDS)
        rows = await pipe.execute()
    return {
        post_id: PostStatsPublic(
            **{f: int(v) for f, v in zip(_FIELDS, row, strict=True) if v is not None}
        )
        for post_id, row in zip(post_ids, rows, strict=True)
    }


async def read_viewer_likes(
    redis: aioredis.Redis, keys: RedisKeys, viewer_id: str, post_ids: Sequence[str]
) -> set[str]:
    """The subset of ``post_ids`` the viewer likes."""
    async with redis.pipeline(transaction=False) as pipe:
        for post_id in post_ids:
            pipe.sismember(keys.post_likers(post_id), viewer_id)
        flags = await pipe.execute()
    return {post_id for post_id, liked in zip(post_ids, flags, strict=True) if liked}
