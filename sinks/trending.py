"""Project hashtag uses to Cassandra (tag pages) and Redis (distinct users per tag).

Every write is absolute: the (tag, user) member is set to its newest live use or
removed, the tag page row is upserted or deleted with the event time as the write
timestamp, so a replay or a duplicate changes nothing. The counter hands over a batch
of uses at a time: rows in UNLOGGED batches, members in one Redis pipeline.
``recount_trending`` turns the per-tag sets into per-window counts, exact as of the
moment it runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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

# Drops a tag whose newest use left the horizon, unless a use arrived meanwhile (the
# counter raises a tag's active score before it writes its members). KEYS: active, tag users.
_RETIRE_TAG = Lua("""
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
""")


@dataclass(frozen=True)
class HashtagWrite:
    """One post gained or lost a tag; ``newest_ms`` is the (tag, user)'s newest live use
    after it (None: the user no longer counts for the tag)."""

    tag: str
    author_id: str
    post_id: str
    created_ms: int
    newest_ms: int | None
    event_micros: int
    deleted: bool


async def write_hashtag_uses(conn: Connections, writes: Sequence[HashtagWrite]) -> None:
    """A batch of uses: tag page rows upserted or deleted (UNLOGGED batches), and each
    (tag, user) member at its last value of the batch, in one Redis transaction."""
    if not writes:
        return
    db = await conn.db()
    inserts = [
        (w.tag, from_ms(w.created_ms), w.post_id, w.author_id, w.event_micros)
        for w in writes
        if not w.deleted
    ]
    # Never older than the row it deletes, whatever the producers' clocks say.
    deletes = [
        (
            max(w.event_micros, ms_to_micros(w.created_ms + 1)),
            w.tag,
            from_ms(w.created_ms),
            w.post_id,
        )
        for w in writes
        if w.deleted
    ]
    # Rows carry their own write time, so their order in the batch does not matter; the
    # member is set to its value after the batch's last event for it.
    members: dict[tuple[str, str], int | None] = {}
    for w in writes:
        members[(w.tag, w.author_id)] = w.newest_ms
    # The two stores are independent: one round trip of latency instead of two.
    await asyncio.gather(
        db.execute_unlogged(_INSERT, inserts),
        db.execute_unlogged(_DELETE, deletes),
        _write_tag_users(conn, members),
    )


async def _write_tag_users(
    conn: Connections, members: Mapping[tuple[str, str], int | None]
) -> None:
    keys = conn.keys
    newest_of_tag: dict[str, int] = {}
    for (tag, _), newest_ms in members.items():
        if newest_ms is not None:
            newest_of_tag[tag] = max(newest_ms, newest_of_tag.get(tag, newest_ms))
    # No MULTI needed: each tag's active score moves first, so ``_RETIRE_TAG`` either ran
    # before it (and the members written after it survive) or sees the new score and
    # leaves the tag alone. A transaction would double the replies to parse.
    async with conn.redis().pipeline(transaction=False) as pipe:
        if newest_of_tag:
            pipe.zadd(keys.hashtags_active(), newest_of_tag, gt=True)
        for (tag, author_id), newest_ms in members.items():
            if newest_ms is None:
                pipe.zrem(keys.hashtag_users(tag), author_id)
            else:
                pipe.zadd(keys.hashtag_users(tag), {author_id: newest_ms})
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
