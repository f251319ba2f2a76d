"""Profiles: Redis first, Cassandra behind it, seen through the visibility policy.

A profile missing from Redis is answered from Cassandra and not written back: the
worker and ``photostream rebuild`` are the only writers of the cache.

Usernames resolve through the ``usernames`` table, which only registered accounts
write: a user created by events alone (the simulator, tests) has a profile but no
usernames row, so looking them up by username may miss them.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from api.credentials import read_account, username_owner
from api.readers.graph import read_counts
from api.readers.ties import read_owner
from clients.cassandra import Db
from domain.accounts import Profile, username_or_none
from domain.errors import NotFound
from schemas.redis_hashes import ProfileHash
from schemas.redis_keys import RedisKeys
from schemas.views import UserProfilePublic, UserPublic

_SELECT = "SELECT username, display_name, is_private, bio, deleted FROM users WHERE user_id = ?"


def _from_cache(user_id: str, cached: ProfileHash) -> UserPublic:
    return UserPublic(
        user_id=user_id,
        username=cached.username,
        display_name=cached.display_name,
        is_private=cached.is_private,
        bio=cached.bio,
    )


async def read_stored_user(db: Db, user_id: str) -> UserPublic | None:
    """The durable profile (Cassandra), or None (also for a deleted account)."""
    rows = await db.execute(_SELECT, (user_id,))
    if not rows or rows[0].deleted:
        return None
    row = rows[0]
    return UserPublic(
        user_id=user_id,
        username=row.username or "",
        display_name=row.display_name or "",
        is_private=bool(row.is_private),
        bio=row.bio or "",
    )


async def get_user(
    redis: aioredis.Redis, db: Db, keys: RedisKeys, user_id: str
) -> UserPublic | None:
    """A profile as stored, Redis first (no visibility check: the owner's own reads)."""
    cached = ProfileHash.from_fields(await redis.hgetall(keys.user(user_id)))
    if cached is not None:
        return None if cached.deleted else _from_cache(user_id, cached)
    return await read_stored_user(db, user_id)


async def read_profile(
    redis: aioredis.Redis, db: Db, keys: RedisKeys, viewer_id: str, user_id: str
) -> UserProfilePublic:
    """The profile card with its counts; ``NotFound`` when the account does not exist,
    is deleted, or a block stands between the viewer and its owner."""
    owner = await read_owner(redis, keys, viewer_id, user_id)
    user = owner.profile if owner.known else await read_stored_user(db, user_id)
    if user is None:
        raise NotFound(f"user {user_id!r}")
    followers, following, posts = await read_counts(redis, db, keys, user_id)
    return UserProfilePublic(
        **user.model_dump(), followers=followers, following=following, posts=posts
    )


async def user_id_for_username(db: Db, username: str) -> str:
    """Who holds ``username`` (any spelling of it); ``NotFound`` when nobody does."""
    name = username_or_none(username)
    user_id = await username_owner(db, name) if name else None
    if user_id is None:
        raise NotFound(f"user {username!r}")
    return user_id


async def read_editable_profile(
    redis: aioredis.Redis, db: Db, keys: RedisKeys, user_id: str
) -> Profile:
    """What an edit starts from: the profile as served, Redis then Cassandra, with the
    username the account holds (it changes with the claim, before the views do); a
    registered account whose profile has not reached the views yet starts empty.
    ``NotFound`` for a deleted account or a user with neither profile nor account."""
    cached = ProfileHash.from_fields(await redis.hgetall(keys.user(user_id)))
    if cached is not None and cached.deleted:
        raise NotFound(f"user {user_id!r}")
    user = _from_cache(user_id, cached) if cached else await read_stored_user(db, user_id)
    account = await read_account(db, user_id)
    if account is not None and account.username:
        username = account.username
    elif user is not None:
        username = user.username
    else:
        raise NotFound(f"user {user_id!r}")
    return Profile(
        username=username,
        display_name=user.display_name if user else "",
        bio=user.bio if user else "",
        is_private=user.is_private if user else False,
    )
