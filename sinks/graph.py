"""Project the social graph to Cassandra (durable) and Redis (fan-out and read filters).

Edge events for one pair share a partition (the graph topic is keyed by followee), so
they arrive in order; Cassandra writes take the server's time and Redis writes are
SADD/SREM (ZADD/ZREM for pending follow requests), so a replay of that order converges
on the same edges. Counts are absolute values: followers from the exact Faust table,
following as the size of the set. ``read_audience`` is the one place fan-out reads an
author's followers from; ``read_follow_facts`` is what a follow is decided on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from clients.lua import Lua
from clients.redis import pipelined
from domain.clock import to_ms
from domain.fanout import Audience
from domain.graph import FollowFacts
from schemas.redis_hashes import ProfileHash
from sinks.connections import Connections

# One user's side of an edge and its count, in one step (other partitions change the
# same set). KEYS: the set, the user's counts hash; ARGV: member, present (1|0), field.
# Returns the set's size.
MEMBER_AND_COUNT = Lua("""
if ARGV[2] == '1' then redis.call('SADD', KEYS[1], ARGV[1]) else redis.call('SREM', KEYS[1], ARGV[1]) end
local n = redis.call('SCARD', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[3], n)
return n
""")

# Which of an author's followers muted them, in one call however many they are.
# KEYS: each follower's muted set; ARGV: the author. Returns 1|0 per key.
MUTED_AUTHOR = Lua("""
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('SISMEMBER', key, ARGV[1]) end
return out
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
_REQUEST = "INSERT INTO follow_requests (owner_id, requester_id, requested_at) VALUES (?, ?, ?)"
_UNREQUEST = "DELETE FROM follow_requests WHERE owner_id = ? AND requester_id = ?"
_MUTE = "INSERT INTO mutes (user_id, muted_id, since) VALUES (?, ?, ?)"
_UNMUTE = "DELETE FROM mutes WHERE user_id = ? AND muted_id = ?"


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


async def read_follow_facts(conn: Connections, follower_id: str, followee_id: str) -> FollowFacts:
    """Blocked either way, the followee's privacy (its cached profile; none: public) and
    the follower's pending request, in one round trip."""
    k, redis = conn.keys, conn.redis()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.sismember(k.blocked(follower_id), followee_id)
        pipe.hgetall(k.user(followee_id))
        pipe.zscore(k.follow_requests(followee_id), follower_id)
        hidden, profile, requested = await pipe.execute()
    cached = ProfileHash.from_fields(profile)
    return FollowFacts(
        hidden=bool(hidden),
        private=bool(cached and cached.is_private),
        requested=requested is not None,
    )


async def write_follow_request(
    conn: Connections, *, owner_id: str, requester_id: str, present: bool, requested_at: datetime
) -> None:
    """A pending request to follow ``owner_id`` (or its end): the owner's requests by
    time and the requester's requests-sent set. A request asked again keeps its time."""
    db = await conn.db()
    k, redis = conn.keys, conn.redis()
    if present:
        await db.execute(_REQUEST, (owner_id, requester_id, requested_at))
    else:
        await db.execute(_UNREQUEST, (owner_id, requester_id))
    async with redis.pipeline(transaction=False) as pipe:
        if present:
            pipe.zadd(k.follow_requests(owner_id), {requester_id: to_ms(requested_at)}, nx=True)
            pipe.sadd(k.requests_sent(requester_id), owner_id)
        else:
            pipe.zrem(k.follow_requests(owner_id), requester_id)
            pipe.srem(k.requests_sent(requester_id), owner_id)
        await pipe.execute()


async def read_follow_requests(conn: Connections, owner_id: str) -> list[str]:
    """Every requester still waiting on ``owner_id``, oldest first."""
    return list(await conn.redis().zrange(conn.keys.follow_requests(owner_id), 0, -1))


async def write_mute(
    conn: Connections, *, user_id: str, muted_id: str, present: bool, occurred_at: datetime
) -> None:
    """``user_id`` muted ``muted_id`` (or no longer does); the follow is left alone."""
    db = await conn.db()
    if present:
        await db.execute(_MUTE, (user_id, muted_id, occurred_at))
        await conn.redis().sadd(conn.keys.muted(user_id), muted_id)
    else:
        await db.execute(_UNMUTE, (user_id, muted_id))
        await conn.redis().srem(conn.keys.muted(user_id), muted_id)


async def is_close_friend(conn: Connections, owner_id: str, friend_id: str) -> bool:
    return bool(await conn.redis().sismember(conn.keys.close_friends(owner_id), friend_id))


async def read_audience(conn: Connections, author_id: str) -> Audience:
    """The author's followers, who is hidden from them or muted them, their close
    friends, activity."""
    return (await read_audiences(conn, [author_id]))[author_id]


async def read_audiences(conn: Connections, author_ids: Sequence[str]) -> dict[str, Audience]:
    """``read_audience`` of many authors in two pipelined round trips."""
    k, redis = conn.keys, conn.redis()
    authors = list(dict.fromkeys(author_ids))
    if not authors:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for author in authors:
            pipe.smembers(k.followers(author))
            pipe.smembers(k.blocked(author))
            pipe.smembers(k.close_friends(author))
        sets = await pipe.execute()
    followers = {a: tuple(sorted(sets[3 * i])) for i, a in enumerate(authors)}
    everyone = sorted({f for fs in followers.values() for f in fs})
    async with redis.pipeline(transaction=False) as pipe:
        for author in authors:
            if followers[author]:
                MUTED_AUTHOR.queue(pipe, [k.muted(f) for f in followers[author]], [author])
        if everyone:
            pipe.zmscore(k.active_users(), everyone)
        replies = await pipe.execute()
    seen = dict(zip(everyone, replies.pop() if everyone else [], strict=True))
    muted = iter(replies)
    out = {}
    for i, author in enumerate(authors):
        ordered = followers[author]
        flags = next(muted) if ordered else []
        out[author] = Audience(
            author_id=author,
            followers=ordered,
            last_seen_ms={f: seen[f] for f in ordered},
            hidden=frozenset(sets[3 * i + 1]),
            muted_by=frozenset(f for f, flag in zip(ordered, flags, strict=True) if flag),
            close_friends=frozenset(sets[3 * i + 2]),
        )
    return out


async def write_block(
    conn: Connections, *, blocker_id: str, blocked_id: str, present: bool, occurred_at: datetime
) -> None:
    """Record a block (or its end); each side's hidden set holds the other while either
    blocks. A block also ends close friendship and pending follow requests, both ways."""
    db = await conn.db()
    redis = conn.redis()
    k = conn.keys
    if present:
        await db.execute(_BLOCK, (blocker_id, blocked_id, occurred_at))
        async with redis.pipeline(transaction=False) as pipe:
            pipe.sadd(k.blocked(blocker_id), blocked_id)
            pipe.sadd(k.blocked(blocked_id), blocker_id)
            for one, other in ((blocker_id, blocked_id), (blocked_id, blocker_id)):
                pipe.srem(k.close_friends(one), other)
                pipe.srem(k.close_friend_of(other), one)
                pipe.zrem(k.follow_requests(one), other)
                pipe.srem(k.requests_sent(other), one)
            await pipe.execute()
        await db.execute_together(
            [
                (_UNCLOSE, (blocker_id, blocked_id)),
                (_UNCLOSE, (blocked_id, blocker_id)),
                (_UNREQUEST, (blocker_id, blocked_id)),
                (_UNREQUEST, (blocked_id, blocker_id)),
            ]
        )
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
    """Refill follow sets, hidden sets, close friends, follow requests, mutes, counts and
    celebrities from Cassandra."""

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
        commands.append(lambda p, r=row: p.sadd(k.close_friend_of(r.friend_id), r.user_id))
        written += 1
    for row in await db.scan("SELECT owner_id, requester_id, requested_at FROM follow_requests"):
        ms = to_ms(row.requested_at) if row.requested_at else 0
        commands.append(
            lambda p, r=row, ms=ms: p.zadd(k.follow_requests(r.owner_id), {r.requester_id: ms})
        )
        commands.append(lambda p, r=row: p.sadd(k.requests_sent(r.requester_id), r.owner_id))
        written += 1
    for row in await db.scan("SELECT user_id, muted_id FROM mutes"):
        commands.append(lambda p, r=row: p.sadd(k.muted(r.user_id), r.muted_id))
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
