"""Project engagement to Redis (serving) and Cassandra (durable); every write is absolute.

Counts are written as absolute values (HSET, ``UPDATE … SET likes = ?``), one
Cassandra write per changed post per flush; the likers set gets SADD/SREM of each
changed member's current state, and in the same pipeline each liker's own index of
the posts they like. Comments and saves are upserts and deletes that carry the mark's
version (event time, then log order) as their write timestamp, so a replay can never
resurrect a deleted one. Each user's shares are indexed in Redis (share event id ->
post) with the batch's other rows. The per-user indexes are what an account deletion
reads to take back every like and share (``sinks.erasure``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clients.redis import pipelined
from domain.clock import from_ms, to_ms
from domain.engagement import COUNTERS
from schemas.redis_hashes import PostCounts
from sinks.connections import Connections

# Per-user indexes of the engagement agent (their home is ``schemas.redis_keys``).
_UPDATE_STATS = (
    "UPDATE post_stats SET likes = ?, comments = ?, saves = ?, shares = ?, updated_at = ? "
    "WHERE post_id = ?"
)
_DELETE_STATS = "DELETE FROM post_stats WHERE post_id = ?"
_INSERT_COMMENT = (
    "INSERT INTO comments_by_post (post_id, comment_id, user_id, text, created_at) "
    "VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
_DELETE_COMMENT = (
    "DELETE FROM comments_by_post USING TIMESTAMP ? WHERE post_id = ? AND comment_id = ?"
)
_INSERT_SAVE = (
    "INSERT INTO saves_by_user (user_id, post_id, saved_at) VALUES (?, ?, ?) USING TIMESTAMP ?"
)
_DELETE_SAVE = "DELETE FROM saves_by_user USING TIMESTAMP ? WHERE user_id = ? AND post_id = ?"


@dataclass(frozen=True)
class CommentWrite:
    post_id: str
    comment_id: str
    present: bool
    ms: int
    version: int  # the mark's write time in microseconds: grows in log order
    user_id: str = ""
    text: str = ""


@dataclass(frozen=True)
class ShareWrite:
    user_id: str
    share_id: str  # the share event's id (the mark's member)
    post_id: str
    present: bool


@dataclass(frozen=True)
class SaveWrite:
    user_id: str
    post_id: str
    present: bool
    version: int  # the mark's write time in microseconds: grows in log order
    saved_ms: int


async def write_post_counts(
    conn: Connections,
    live: Mapping[str, Sequence[int]],
    deleted: Sequence[str],
    likers: Mapping[str, Mapping[str, bool]],
    *,
    now_ms: int,
) -> int:
    """Flush absolute counts, likers and the likers' own indexes; returns the number of
    Cassandra writes (one per post, whatever its likers)."""
    redis, keys = conn.redis(), conn.keys
    commands: list[Callable[[Any], object]] = []
    for post_id, vector in live.items():
        key, counts = keys.post_stats(post_id), PostCounts.of(vector).value()
        commands.append(lambda p, key=key, c=counts: p.set(key, c))
    for post_id, members in likers.items():
        added = [user for user, liked in members.items() if liked]
        removed = [user for user, liked in members.items() if not liked]
        key = keys.post_likers(post_id)
        if added:
            commands.append(lambda p, key=key, users=added: p.sadd(key, *users))
        if removed:
            commands.append(lambda p, key=key, users=removed: p.srem(key, *users))
        for user, liked in members.items():
            index = keys.liked(user)
            if liked:
                commands.append(lambda p, index=index, post_id=post_id: p.sadd(index, post_id))
            else:
                commands.append(lambda p, index=index, post_id=post_id: p.srem(index, post_id))
    for post_id in deleted:
        commands.append(
            lambda p, post_id=post_id: p.delete(keys.post_stats(post_id), keys.post_likers(post_id))
        )
    await pipelined(redis, commands)
    db = await conn.db()
    updated = from_ms(now_ms)
    await db.execute_unlogged(
        _UPDATE_STATS, [(*vector, updated, post_id) for post_id, vector in live.items()]
    )
    await db.execute_unlogged(_DELETE_STATS, [(post_id,) for post_id in deleted])
    return len(live) + len(deleted)


async def write_comments(conn: Connections, writes: Sequence[CommentWrite]) -> None:
    if not writes:
        return
    db = await conn.db()
    await asyncio.gather(
        db.execute_many(
            _INSERT_COMMENT,
            [
                (w.post_id, w.comment_id, w.user_id, w.text, from_ms(w.ms), w.version)
                for w in writes
                if w.present
            ],
        ),
        db.execute_many(
            _DELETE_COMMENT,
            [(w.version, w.post_id, w.comment_id) for w in writes if not w.present],
        ),
    )


async def write_saves(conn: Connections, writes: Sequence[SaveWrite]) -> None:
    if not writes:
        return
    db = await conn.db()
    await asyncio.gather(
        db.execute_many(
            _INSERT_SAVE,
            [(w.user_id, w.post_id, from_ms(w.saved_ms), w.version) for w in writes if w.present],
        ),
        db.execute_many(
            _DELETE_SAVE, [(w.version, w.user_id, w.post_id) for w in writes if not w.present]
        ),
    )
    redis, keys = conn.redis(), conn.keys
    async with redis.pipeline(transaction=False) as pipe:
        for w in writes:
            if w.present:
                pipe.zadd(keys.saved(w.user_id), {w.post_id: w.saved_ms})
            else:
                pipe.zrem(keys.saved(w.user_id), w.post_id)
        await pipe.execute()


async def write_shares(conn: Connections, writes: Sequence[ShareWrite]) -> None:
    """Each sharer's index of their shares that count (one pipeline per batch)."""
    if not writes:
        return
    keys = conn.keys
    async with conn.redis().pipeline(transaction=False) as pipe:
        for w in writes:
            if w.present:
                pipe.hset(keys.shares(w.user_id), w.share_id, w.post_id)
            else:
                pipe.hdel(keys.shares(w.user_id), w.share_id)
        await pipe.execute()


_COMMENTS_BY = "SELECT post_id, comment_id FROM comments_by_post WHERE user_id = ?"
_ERASE_COMMENT = "DELETE FROM comments_by_post WHERE post_id = ? AND comment_id = ?"


async def erase_comments(conn: Connections, user_id: str) -> int:
    """An erased account's comments still stored (on posts deleted meanwhile, whose
    events the counters drop); returns how many were found."""
    db = await conn.db()
    rows = await db.scan(await db.prepare(_COMMENTS_BY), (user_id,))
    await db.execute_many(_ERASE_COMMENT, [(r.post_id, r.comment_id) for r in rows])
    return len(rows)


async def rebuild_engagement(conn: Connections) -> int:
    """Refill cached counts and saved lists from Cassandra; returns keys written.

    The likers sets are re-projected by the worker from its table after every
    recovery (a worker restart rebuilds them).
    """
    db = await conn.db()
    redis, keys = conn.redis(), conn.keys
    columns = ", ".join(COUNTERS)
    stats = await db.scan(f"SELECT post_id, {columns} FROM post_stats")
    saves = await db.scan("SELECT user_id, post_id, saved_at FROM saves_by_user")
    commands: list[Callable[[Any], object]] = [
        lambda p, r=row: p.set(
            keys.post_stats(r.post_id),
            PostCounts.of(getattr(r, name) or 0 for name in COUNTERS).value(),
        )
        for row in stats
    ]
    commands += [
        lambda p, r=row: p.zadd(
            keys.saved(r.user_id),
            {r.post_id: to_ms(r.saved_at) if r.saved_at else 0},
        )
        for row in saves
    ]
    await pipelined(redis, commands)
    return len(commands)
