"""Feed candidates in Redis: fan-out on write, retractions, durable copies, rebuilds.

Fan-out runs as one Lua script per post: the author's follower set, the activity
index and every follower's capped sorted set are touched inside Redis, so a post
costs one round trip whatever its follower count (below the celebrity threshold).
ZADD with the post's creation time and rank trimming are idempotent, so a replayed
post changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from clients.lua import Lua
from clients.redis import pipelined
from domain.feeds import active_cutoff_ms, newest
from sinks.connections import Connections

logger = logging.getLogger(__name__)

# One round trip per post event. The hash is replaced only by a version at least as new
# as the stored one; a stale event (a newer state already written) changes nothing else.
# Then, by state: ready -> author tail, recent posts and every active follower's capped
# feed (fan-out on write), unless the author is a celebrity (pulled at read time);
# deleted -> removed from all of those; processing/failed -> the author's pending list.
# KEYS: post, apending:A, ucounts:A, followers:A, aposts:A, active, recent, feeddirty
# ARGV: version, post_id, author, state, reason, created_ms, post count, caption, media,
#       has_content (1|0), threshold, feed cap, active cutoff ms, feed key prefix, tail cap
# Returns followers pushed to, -1 for a celebrity, -2 for a stale event.
POST = Lua("""
local version, post, state, score = ARGV[1], ARGV[2], ARGV[4], ARGV[6]
local current = redis.call('HGET', KEYS[1], 'updated_at')
if current and tonumber(current) > tonumber(version) then return -2 end
redis.call('HSET', KEYS[1], 'updated_at', version, 'author_id', ARGV[3], 'state', state,
           'reason', ARGV[5], 'created_at', score)
if ARGV[10] == '1' then redis.call('HSET', KEYS[1], 'caption', ARGV[8], 'media', ARGV[9]) end
redis.call('HSET', KEYS[3], 'posts', ARGV[7])
local prefix = ARGV[14]
if state == 'deleted' then
  redis.call('ZREM', KEYS[2], post)
  redis.call('ZREM', KEYS[5], post)
  redis.call('ZREM', KEYS[7], post)
  for _, follower in ipairs(redis.call('SMEMBERS', KEYS[4])) do
    if redis.call('ZREM', prefix .. follower, post) == 1 then redis.call('SADD', KEYS[8], follower) end
  end
  return 0
end
if state ~= 'ready' then
  redis.call('ZADD', KEYS[2], score, post)
  return 0
end
redis.call('ZREM', KEYS[2], post)
local tail = tonumber(ARGV[15])
for _, key in ipairs({KEYS[5], KEYS[7]}) do
  redis.call('ZADD', key, score, post)
  local n = redis.call('ZCARD', key)
  if n > tail then redis.call('ZREMRANGEBYRANK', key, 0, n - tail - 1) end
end
if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[11]) then return -1 end
local cap, cutoff = tonumber(ARGV[12]), tonumber(ARGV[13])
local pushed = 0
for _, follower in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local seen = redis.call('ZSCORE', KEYS[6], follower)
  if seen and tonumber(seen) >= cutoff then
    local feed = prefix .. follower
    redis.call('ZADD', feed, score, post)
    if redis.call('ZCARD', feed) > cap then redis.call('ZREMRANGEBYRANK', feed, 0, -(cap + 1)) end
    redis.call('SADD', KEYS[8], follower)
    pushed = pushed + 1
  end
end
return pushed
""")


def feed_prefix(conn: Connections) -> str:
    return conn.keys.feed("")


async def project_post(
    conn: Connections,
    *,
    post_id: str,
    record: Mapping[str, Any],
    post_count: int,
    caption: str | None = None,
    media_json: str | None = None,
    now_ms: int | None = None,
) -> int:
    """Write a post's state to Redis and fan it out or retract it; see ``POST``."""
    s, k = conn.settings, conn.keys
    author = record["author_id"]
    now_ms = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
    return int(
        await POST(
            conn.redis(),
            [
                k.post(post_id),
                k.author_pending(author),
                k.user_counts(author),
                k.followers(author),
                k.author_posts(author),
                k.active_users(),
                k.recent_posts(),
                k.feed_dirty(),
            ],
            [
                int(record["version"]),
                post_id,
                author,
                record["state"],
                record.get("reason") or "",
                int(record["created_ms"]),
                post_count,
                caption or "",
                media_json or "[]",
                "1" if caption is not None else "0",
                s.celebrity_threshold,
                s.feed_cap,
                active_cutoff_ms(now_ms, s.inactive_after_days),
                feed_prefix(conn),
                s.author_posts_cap,
            ],
        )
    )


async def push_tail_to_followers(conn: Connections, author_id: str, *, now_ms: int) -> int:
    """An author who stopped being a celebrity: the newest posts reads used to pull go to
    every active follower's feed (idle followers rebuild theirs from the tails on return).
    Returns followers pushed to."""
    s, k, redis = conn.settings, conn.keys, conn.redis()
    tail = dict(
        await redis.zrevrange(k.author_posts(author_id), 0, s.feed_pull_tail - 1, withscores=True)
    )
    followers = sorted(await redis.smembers(k.followers(author_id)))
    if not tail or not followers:
        return 0
    seen = await redis.zmscore(k.active_users(), followers)
    cutoff = active_cutoff_ms(now_ms, s.inactive_after_days)
    active = [f for f, ms in zip(followers, seen, strict=True) if ms is not None and ms >= cutoff]
    commands: list[Callable[[Any], object]] = []
    for follower in active:
        feed = k.feed(follower)
        commands.append(lambda p, feed=feed: p.zadd(feed, tail))
        commands.append(lambda p, feed=feed: p.zremrangebyrank(feed, 0, -(s.feed_cap + 1)))
    if active:
        commands.append(lambda p: p.sadd(k.feed_dirty(), *active))
    await pipelined(redis, commands)
    return len(active)


# --- durable copies ----------------------------------------------------------------

_UPSERT_SNAPSHOT = "INSERT INTO feed_candidates (user_id, candidates, updated_at) VALUES (?, ?, ?)"
_SELECT_SNAPSHOTS = "SELECT user_id, candidates FROM feed_candidates"
_SELECT_FOLLOWING = "SELECT followee_id FROM following WHERE user_id = ?"


async def flush_feed_snapshots(conn: Connections, *, batch: int = 500) -> int:
    """Copy every changed feed to Cassandra as one absolute value; returns feeds written."""
    redis = conn.redis()
    db = await conn.db()
    written = 0
    while True:
        users = await redis.spop(conn.keys.feed_dirty(), batch)
        if not users:
            return written
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for user in users:
                    pipe.zrevrange(conn.keys.feed(user), 0, -1, withscores=True)
                feeds = await pipe.execute()
            now = datetime.now(UTC)
            await db.execute_many(
                _UPSERT_SNAPSHOT,
                [
                    (user, orjson.dumps([[p, int(s)] for p, s in feed]).decode(), now)
                    for user, feed in zip(users, feeds, strict=True)
                ],
            )
        except Exception:
            # Put the marks back so the next flush retries these feeds.
            await redis.sadd(conn.keys.feed_dirty(), *users)
            raise
        written += len(users)
        if len(users) < batch:
            return written


async def rebuild_feeds(conn: Connections) -> int:
    """Refill every feed from its durable copy merged with the followees' newest posts."""

    db = await conn.db()
    redis = conn.redis()
    cap = conn.settings.feed_cap
    celebrities = set(await redis.smembers(conn.keys.celebrities()))
    rebuilt = 0
    for row in await db.scan(_SELECT_SNAPSHOTS):
        saved = [(p, float(s)) for p, s in orjson.loads(row.candidates or "[]")]
        followees = [r.followee_id for r in await db.execute(_SELECT_FOLLOWING, (row.user_id,))]
        async with redis.pipeline(transaction=False) as pipe:
            for followee in followees:
                if followee not in celebrities:
                    pipe.zrevrange(conn.keys.author_posts(followee), 0, cap - 1, withscores=True)
            tails = await pipe.execute()
        merged = newest([*saved, *(e for tail in tails for e in tail)], cap)
        if merged:
            await redis.zadd(conn.keys.feed(row.user_id), dict(merged))
            await redis.zremrangebyrank(conn.keys.feed(row.user_id), 0, -(cap + 1))
        rebuilt += 1
    return rebuilt
