"""Project the social graph to Cassandra (durable) and Redis (fan-out and read filters).

Edge events for one pair share a partition (the graph topic is keyed by followee), so
they arrive in order; Cassandra writes take the server's time and Redis writes are
SADD/SREM, so a replay of that order converges on the same edges. Counts are absolute
values: followers from the exact Faust table, following as the size of the set.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from clients.lua import Lua
from clients.redis import pipelined
from domain.feeds import active_cutoff_ms
from sinks.connections import Connections

# KEYS: following:u, followers:t, ucounts:u, ucounts:t, celebrities, feed:u, aposts:t,
#       active, feeddirty
# ARGV: u, t, present (1|0), follower count of t, threshold, feed cap, active cutoff ms
# Keeps both directions, both counts and the celebrity set; then backfills the follower's
# feed with the new followee's newest posts, or removes them after an unfollow.
# Returns the follower's following count.
EDGE = Lua("""
local u, t, present = ARGV[1], ARGV[2], ARGV[3] == '1'
if present then
  redis.call('SADD', KEYS[1], t); redis.call('SADD', KEYS[2], u)
else
  redis.call('SREM', KEYS[1], t); redis.call('SREM', KEYS[2], u)
end
local following = redis.call('SCARD', KEYS[1])
redis.call('HSET', KEYS[3], 'following', following)
local followers = tonumber(ARGV[4])
redis.call('HSET', KEYS[4], 'followers', followers)
local celebrity = followers >= tonumber(ARGV[5])
if celebrity then redis.call('SADD', KEYS[5], t) else redis.call('SREM', KEYS[5], t) end
local cap = tonumber(ARGV[6])
local tail = redis.call('ZREVRANGE', KEYS[7], 0, cap - 1, 'WITHSCORES')
if #tail == 0 then return following end
if present then
  local seen = redis.call('ZSCORE', KEYS[8], u)
  if celebrity or not seen or tonumber(seen) < tonumber(ARGV[7]) then return following end
  for i = 1, #tail, 2 do redis.call('ZADD', KEYS[6], tail[i + 1], tail[i]) end
  local n = redis.call('ZCARD', KEYS[6])
  if n > cap then redis.call('ZREMRANGEBYRANK', KEYS[6], 0, n - cap - 1) end
else
  for i = 1, #tail, 2 do redis.call('ZREM', KEYS[6], tail[i]) end
end
redis.call('SADD', KEYS[9], u)
return following
""")

_FOLLOWER = "INSERT INTO followers (user_id, follower_id, since) VALUES (?, ?, ?)"
_FOLLOWING = "INSERT INTO following (user_id, followee_id, since) VALUES (?, ?, ?)"
_UNFOLLOWER = "DELETE FROM followers WHERE user_id = ? AND follower_id = ?"
_UNFOLLOWING = "DELETE FROM following WHERE user_id = ? AND followee_id = ?"
_FOLLOWERS_COUNT = "UPDATE user_counts SET followers = ? WHERE user_id = ?"
_FOLLOWING_COUNT = "UPDATE user_counts SET following = ? WHERE user_id = ?"
_BLOCK = "INSERT INTO blocks (user_id, blocked_id, since) VALUES (?, ?, ?)"
_UNBLOCK = "DELETE FROM blocks WHERE user_id = ? AND blocked_id = ?"
_BLOCKS = "SELECT blocked_id FROM blocks WHERE user_id = ? AND blocked_id = ?"
_CLOSE = "INSERT INTO close_friends (user_id, friend_id, since) VALUES (?, ?, ?)"
_UNCLOSE = "DELETE FROM close_friends WHERE user_id = ? AND friend_id = ?"


async def write_follow(
    conn: Connections,
    *,
    follower_id: str,
    followee_id: str,
    present: bool,
    follower_count: int,
    occurred_at: datetime,
    now_ms: int,
) -> None:
    s, k = conn.settings, conn.keys
    following = await EDGE(
        conn.redis(),
        [
            k.following(follower_id),
            k.followers(followee_id),
            k.user_counts(follower_id),
            k.user_counts(followee_id),
            k.celebrities(),
            k.feed(follower_id),
            k.author_posts(followee_id),
            k.active_users(),
            k.feed_dirty(),
        ],
        [
            follower_id,
            followee_id,
            "1" if present else "0",
            follower_count,
            s.celebrity_threshold,
            s.feed_cap,
            active_cutoff_ms(now_ms, s.inactive_after_days),
        ],
    )
    db = await conn.db()
    if present:
        await db.execute(_FOLLOWER, (followee_id, follower_id, occurred_at))
        await db.execute(_FOLLOWING, (follower_id, followee_id, occurred_at))
    else:
        await db.execute(_UNFOLLOWER, (followee_id, follower_id))
        await db.execute(_UNFOLLOWING, (follower_id, followee_id))
    await db.execute(_FOLLOWERS_COUNT, (follower_count, followee_id))
    await db.execute(_FOLLOWING_COUNT, (int(following), follower_id))


async def write_block(
    conn: Connections, *, blocker_id: str, blocked_id: str, present: bool, occurred_at: datetime
) -> None:
    """Record a block (or its end); each side's hidden set holds the other while either blocks."""
    db = await conn.db()
    redis = conn.redis()
    k = conn.keys
    if present:
        await db.execute(_BLOCK, (blocker_id, blocked_id, occurred_at))
        async with redis.pipeline(transaction=False) as pipe:
            pipe.sadd(k.blocked(blocker_id), blocked_id)
            pipe.sadd(k.blocked(blocked_id), blocker_id)
            pipe.srem(k.close_friends(blocker_id), blocked_id)
            pipe.srem(k.close_friends(blocked_id), blocker_id)
            await pipe.execute()
        await db.execute(_UNCLOSE, (blocker_id, blocked_id))
        await db.execute(_UNCLOSE, (blocked_id, blocker_id))
        return
    await db.execute(_UNBLOCK, (blocker_id, blocked_id))
    if not await db.execute(_BLOCKS, (blocked_id, blocker_id)):
        async with redis.pipeline(transaction=False) as pipe:
            pipe.srem(k.blocked(blocker_id), blocked_id)
            pipe.srem(k.blocked(blocked_id), blocker_id)
            await pipe.execute()


async def write_close_friend(
    conn: Connections, *, user_id: str, friend_id: str, present: bool, occurred_at: datetime
) -> None:
    db = await conn.db()
    if present:
        await db.execute(_CLOSE, (user_id, friend_id, occurred_at))
        await conn.redis().sadd(conn.keys.close_friends(user_id), friend_id)
    else:
        await db.execute(_UNCLOSE, (user_id, friend_id))
        await conn.redis().srem(conn.keys.close_friends(user_id), friend_id)


async def rebuild_graph(conn: Connections) -> int:
    """Refill follow sets, hidden sets, close friends, counts and celebrities from Cassandra."""

    db = await conn.db()
    redis = conn.redis()
    k = conn.keys
    threshold = conn.settings.celebrity_threshold
    followers: dict[str, int] = {}
    commands: list[Callable[[Any], object]] = []
    rows = await db.scan("SELECT user_id, follower_id FROM followers")
    for row in rows:
        commands.append(lambda p, r=row: p.sadd(k.followers(r.user_id), r.follower_id))
        commands.append(lambda p, r=row: p.sadd(k.following(r.follower_id), r.user_id))
        followers[row.user_id] = followers.get(row.user_id, 0) + 1
    written = len(rows)
    for user, count in followers.items():
        commands.append(lambda p, u=user, c=count: p.hset(k.user_counts(u), "followers", c))
        if count >= threshold:
            commands.append(lambda p, u=user: p.sadd(k.celebrities(), u))
    for row in await db.scan("SELECT user_id, blocked_id FROM blocks"):
        commands.append(lambda p, r=row: p.sadd(k.blocked(r.user_id), r.blocked_id))
        commands.append(lambda p, r=row: p.sadd(k.blocked(r.blocked_id), r.user_id))
        written += 1
    for row in await db.scan("SELECT user_id, friend_id FROM close_friends"):
        commands.append(lambda p, r=row: p.sadd(k.close_friends(r.user_id), r.friend_id))
        written += 1
    await pipelined(redis, commands)
    # Following counts from the restored sets, as the live sink keeps them.
    users = [
        row.user_id for row in await db.scan("SELECT user_id FROM following PER PARTITION LIMIT 1")
    ]
    sizes = await pipelined(redis, [lambda p, u=u: p.scard(k.following(u)) for u in users])
    await pipelined(
        redis,
        [
            lambda p, u=u, n=n: p.hset(k.user_counts(u), "following", n)
            for u, n in zip(users, sizes, strict=True)
        ],
    )
    return written
