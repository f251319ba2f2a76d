"""Graph reads: the viewer's relations (for filters), counts and follower lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from clients.cassandra import Db
from domain.cursors import decode_cursor, encode_cursor, str_field
from schemas.redis_hashes import ProfileHash
from schemas.redis_keys import RedisKeys
from schemas.views import UserPublic, UsersPage

_COUNTS = "SELECT followers, following, posts FROM user_counts WHERE user_id = ?"
# Table name and column per direction; both are one partition read, ordered by id.
_PAGES = {
    "followers": "SELECT follower_id AS id FROM followers WHERE user_id = ? AND follower_id > ? LIMIT ?",
    "following": "SELECT followee_id AS id FROM following WHERE user_id = ? AND followee_id > ? LIMIT ?",
}


@dataclass(frozen=True)
class Relations:
    following: set[str]
    blocked: set[str]  # hidden from the viewer because either side blocked the other


async def read_relations(redis: aioredis.Redis, keys: RedisKeys, viewer_id: str) -> Relations:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.smembers(keys.following(viewer_id))
        pipe.smembers(keys.blocked(viewer_id))
        following, blocked = await pipe.execute()
    return Relations(set(following), set(blocked))


async def read_counts(
    redis: aioredis.Redis, db: Db, keys: RedisKeys, user_id: str
) -> tuple[int, int, int]:
    """(followers, following, posts), Redis first, Cassandra behind it."""
    cached = await redis.hmget(keys.user_counts(user_id), "followers", "following", "posts")
    if any(v is not None for v in cached):
        return tuple(int(v or 0) for v in cached)  # type: ignore[return-value]
    rows = await db.execute(_COUNTS, (user_id,))
    if not rows:
        return (0, 0, 0)
    row = rows[0]
    return (row.followers or 0, row.following or 0, row.posts or 0)


async def read_profiles(
    redis: aioredis.Redis, keys: RedisKeys, user_ids: Sequence[str]
) -> dict[str, UserPublic]:
    """Cached profiles in one round trip; an account without one shows its id as name."""
    async with redis.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.hgetall(keys.user(user_id))
        rows = await pipe.execute()
    out = {}
    for user_id, fields in zip(user_ids, rows, strict=True):
        profile = ProfileHash.from_fields(fields)
        out[user_id] = UserPublic(
            user_id=user_id,
            username=(profile.username if profile else "") or user_id,
            display_name=profile.display_name if profile else "",
            is_private=bool(profile and profile.is_private),
        )
    return out


async def read_follows(
    redis: aioredis.Redis,
    db: Db,
    keys: RedisKeys,
    direction: str,
    user_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> UsersPage:
    """A page of a user's followers or followees, in id order, with their profiles."""
    after = str_field(decode_cursor(cursor, "a"), "a") if cursor else ""
    rows = await db.execute(_PAGES[direction], (user_id, after, limit + 1))
    ids = [row.id for row in rows]
    page, more = ids[:limit], len(ids) > limit
    profiles = await read_profiles(redis, keys, page)
    return UsersPage(
        data=[profiles[i] for i in page],
        next_cursor=encode_cursor(a=page[-1]) if more and page else None,
    )
