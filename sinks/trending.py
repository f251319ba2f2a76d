"""Project hashtag uses to Cassandra (tag pages) and Redis (distinct users per tag).

Every write is absolute: the (tag, user) member is set to its newest live use or
removed, the tag page row is upserted or deleted with the event time as the write
timestamp, so a replay or a duplicate changes nothing. ``recount_trending`` turns
the per-tag sets into per-window counts, exact as of the moment it runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from clients.lua import Lua
from domain.clock import from_ms, ms_to_micros, now_ms, to_ms
from domain.trending import HORIZON_MS, WINDOWS_MS, in_horizon
from sinks.connections import Connections

logger = logging.getLogger(__name__)

_INSERT = (
    "INSERT INTO posts_by_hashtag (tag, created_at, post_id, author_id) "
    "VALUES (?, ?, ?, ?) USING TIMESTAMP ?"
)
_DELETE = "DELETE FROM posts_by_hashtag USING TIMESTAMP ? WHERE tag = ? AND created_at = ? AND post_id = ?"

# Drops a tag whose newest use left the horizon, unless a use arrived meanwhile
# (checked atomically against the agent's MULTI below). KEYS: active, tag users.
_RETIRE_TAG = Lua("""
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
""")


async def write_hashtag_use(
    conn: Connections,
    *,
    tag: str,
    author_id: str,
    post_id: str,
    created_ms: int,
    newest_ms: int | None,
    event_micros: int,
    deleted: bool,
) -> None:
    """One post gained or lost a tag; ``newest_ms`` is the (tag, user)'s newest live use."""
    if deleted:
        # Never older than the row it deletes, whatever the producers' clocks say.
        micros = max(event_micros, ms_to_micros(created_ms + 1))
        durable = conn.execute(_DELETE, (micros, tag, from_ms(created_ms), post_id))
    else:
        durable = conn.execute(
            _INSERT, (tag, from_ms(created_ms), post_id, author_id, event_micros)
        )
    # The two stores are independent: one round trip of latency instead of two.
    await asyncio.gather(durable, _write_tag_user(conn, tag, author_id, newest_ms))


async def _write_tag_user(
    conn: Connections, tag: str, author_id: str, newest_ms: int | None
) -> None:
    keys = conn.keys
    async with conn.redis().pipeline(transaction=True) as pipe:
        if newest_ms is None:
            pipe.zrem(keys.hashtag_users(tag), author_id)
        else:
            pipe.zadd(keys.hashtag_users(tag), {author_id: newest_ms})
            pipe.zadd(keys.hashtags_active(), {tag: newest_ms}, gt=True)
        await pipe.execute()


async def recount_trending(conn: Connections, now_ms: int) -> int:
    """Rewrite every window's tag counts as of ``now_ms``; returns tags counted."""
    redis = conn.redis()
    keys = conn.keys
    horizon_start = now_ms - HORIZON_MS
    for tag in await redis.zrangebyscore(keys.hashtags_active(), "-inf", horizon_start):
        await _RETIRE_TAG(
            redis, [keys.hashtags_active(), keys.hashtag_users(tag)], [tag, horizon_start]
        )
    active: list[tuple[str, float]] = await redis.zrangebyscore(
        keys.hashtags_active(), f"({horizon_start}", "+inf", withscores=True
    )
    counted = 0
    for window, length in WINDOWS_MS.items():
        start = now_ms - length
        candidates = [tag for tag, newest in active if newest > start]
        async with redis.pipeline(transaction=False) as pipe:
            for tag in candidates:
                pipe.zcount(keys.hashtag_users(tag), f"({start}", "+inf")
            pipe.zrange(keys.trending(window), 0, -1)
            *counts, listed = await pipe.execute()
        fresh = {tag: n for tag, n in zip(candidates, counts, strict=True) if n > 0}
        stale = [tag for tag in listed if tag not in fresh]
        async with redis.pipeline(transaction=True) as pipe:
            if fresh:
                pipe.zadd(keys.trending(window), fresh)
            if stale:
                pipe.zrem(keys.trending(window), *stale)
            await pipe.execute()
        counted += len(candidates)
    # Members older than the horizon can never count again.
    async with redis.pipeline(transaction=False) as pipe:
        for tag, _ in active:
            pipe.zremrangebyscore(keys.hashtag_users(tag), "-inf", horizon_start)
        await pipe.execute()
    return counted


async def rebuild_trending(conn: Connections) -> int:
    """Refill the per-tag user sets from the last 7 days of tag pages; returns uses read."""
    db = await conn.db()
    now = now_ms()
    rows = await db.scan("SELECT tag, created_at, author_id FROM posts_by_hashtag")
    newest: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        ms = to_ms(row.created_at)
        if in_horizon(ms, now):
            users = newest[row.tag]
            users[row.author_id] = max(ms, users.get(row.author_id, 0))
    redis = conn.redis()
    for tag, users in newest.items():
        async with redis.pipeline(transaction=True) as pipe:
            pipe.delete(conn.keys.hashtag_users(tag))
            pipe.zadd(conn.keys.hashtag_users(tag), users)
            pipe.zadd(conn.keys.hashtags_active(), {tag: max(users.values())}, gt=True)
            await pipe.execute()
    await recount_trending(conn, now)
    return len(rows)
