"""Project the social graph to Cassandra (durable) and Redis (fan-out and read filters).

Edge events for one pair share a partition (the graph topic is keyed by followee), so
they arrive in order; Cassandra writes take the server's time and Redis writes are
SADD/SREM, so a replay of that order converges on the same edges. Counts are absolute
values: followers from the exact Faust table, following as the size of the set.
``read_audience`` is the one place fan-out reads an author's followers from.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from clients.lua import Lua
from clients.redis import pipelined
from domain.fanout import Audience
from sinks.connections import Connections
from sinks.feeds import read_last_seen

# One user's side of an edge and its count, in one step (other partitions change the
# same set). KEYS: the set, the user's counts hash; ARGV: member, present (1|0), field.
# Returns the set's size.
MEMBER_AND_COUNT = Lua("""
if ARGV[2] == '1' then redis.call('SADD', KEYS[1], ARGV[1]) else redis.call('SREM', KEYS[1], ARGV[1]) end
local n = redis.call('SCARD', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[3], n)
return n
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
    celebrity: bool,
    occurred_at: datetime,
) -> None:
    """Both directions of an edge, both counts, and the followee's celebrity membership."""
    k, redis = conn.keys, conn.redis()
    following = await MEMBER_AND_COUNT(
        redis,
        [k.following(follower_id), k.user_counts(follower_id)],
        [followee_id, "1" if present else "0", "following"],
    )
    async with redis.pipeline(transaction=False) as pipe:
        if present:
            pipe.sadd(k.followers(followee_id), follower_id)
        else:
            pipe.srem(k.followers(followee_id), follower_id)
        pipe.hset(k.user_counts(followee_id), "followers", follower_count)
        if celebrity:
            pipe.sadd(k.celebrities(), followee_id)
        else:
            pipe.srem(k.celebrities(), followee_id)
        await pipe.execute()
    db = await conn.db()
    if present:
        await db.execute(_FOLLOWER, (followee_id, follower_id, occurred_at))
        await db.execute(_FOLLOWING, (follower_id, followee_id, occurred_at))
    else:
        await db.execute(_UNFOLLOWER, (followee_id, follower_id))
        await db.execute(_UNFOLLOWING, (follower_id, followee_id))
    await db.execute(_FOLLOWERS_COUNT, (follower_count, followee_id))
    await db.execute(_FOLLOWING_COUNT, (int(following), follower_id))


async def is_hidden(conn: Connections, user_id: str, other_id: str) -> bool:
    """Whether the two are blocked from each other (either way)."""
    return bool(await conn.redis().sismember(conn.keys.blocked(user_id), other_id))


async def is_close_friend(conn: Connections, owner_id: str, friend_id: str) -> bool:
    return bool(await conn.redis().sismember(conn.keys.close_friends(owner_id), friend_id))


async def read_audience(conn: Connections, author_id: str) -> Audience:
    """The author's followers, who is hidden from them, their close friends, activity."""
    k, redis = conn.keys, conn.redis()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.smembers(k.followers(author_id))
        pipe.smembers(k.blocked(author_id))
        pipe.smembers(k.close_friends(author_id))
        followers, hidden, close = await pipe.execute()
    ordered = tuple(sorted(followers))
    return Audience(
        author_id=author_id,
        followers=ordered,
        last_seen_ms=await read_last_seen(conn, list(ordered)),
        hidden=frozenset(hidden),
        close_friends=frozenset(close),
    )


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
            pipe.srem(k.close_friend_of(blocked_id), blocker_id)
            pipe.srem(k.close_friend_of(blocker_id), blocked_id)
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
    """``friend_id`` is (or no longer is) one of ``user_id``'s close friends, kept both
    ways: the owner's set (fan-out) and the friend's index (tray reads)."""
    db = await conn.db()
    k, redis = conn.keys, conn.redis()
    async with redis.pipeline(transaction=False) as pipe:
        if present:
            pipe.sadd(k.close_friends(user_id), friend_id)
            pipe.sadd(k.close_friend_of(friend_id), user_id)
        else:
            pipe.srem(k.close_friends(user_id), friend_id)
            pipe.srem(k.close_friend_of(friend_id), user_id)
        await pipe.execute()
    if present:
        await db.execute(_CLOSE, (user_id, friend_id, occurred_at))
    else:
        await db.execute(_UNCLOSE, (user_id, friend_id))


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
