"""Follows and the follower / following lists."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio as aioredis
from fastapi import APIRouter, Query, status

from api.deps import CurrentUser, Cursor, DbDep, IdempotencyKey, KeysDep, ProducerDep, RedisDep
from api.errors import ApiError, error_responses
from api.readers.graph import read_follows
from api.readers.users import get_user
from api.writes import publish
from clients.cassandra import Db
from domain.errors import Forbidden, NotFound
from schemas.redis_keys import RedisKeys
from schemas.views import AcceptedPublic, UsersPage

router = APIRouter(prefix="/users", tags=["graph"])

MAX_LIMIT = 200

_WRITE_ERRORS = error_responses(401, 403, 404, 422, 503)


async def _check_target(
    redis: aioredis.Redis, db: Db, keys: RedisKeys, viewer: str, user_id: str
) -> None:
    if user_id == viewer:
        raise ApiError(422, "invalid_request", "you cannot follow yourself")
    if await redis.sismember(keys.blocked(viewer), user_id):
        raise Forbidden("a block between you and this user prevents a follow")
    if await get_user(redis, db, keys, user_id) is None:
        raise NotFound(f"user {user_id!r}")


@router.post(
    "/{user_id}/follow",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedPublic,
    responses=_WRITE_ERRORS,
)
async def create_follow(
    user_id: str,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    producer: ProducerDep,
    viewer: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedPublic:
    """Follow a user."""
    await _check_target(redis, db, keys, viewer, user_id)
    return await publish(
        redis,
        keys,
        producer,
        event_type="follow",
        user_id=viewer,
        idempotency_key=idempotency_key,
        target_id=user_id,
    )


@router.delete(
    "/{user_id}/follow",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedPublic,
    responses=_WRITE_ERRORS,
)
async def delete_follow(
    user_id: str,
    redis: RedisDep,
    keys: KeysDep,
    producer: ProducerDep,
    viewer: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedPublic:
    """Unfollow a user; their posts leave your feed at the next read."""
    if user_id == viewer:
        raise ApiError(422, "invalid_request", "you cannot unfollow yourself")
    return await publish(
        redis,
        keys,
        producer,
        event_type="unfollow",
        user_id=viewer,
        idempotency_key=idempotency_key,
        target_id=user_id,
    )


_READ_ERRORS = error_responses(400, 401)


@router.get("/{user_id}/followers", response_model=UsersPage, responses=_READ_ERRORS)
async def read_followers(
    user_id: str,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    viewer: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Cursor = None,
) -> UsersPage:
    """List a user's followers, one cursor page at a time."""
    return await read_follows(redis, db, keys, "followers", user_id, cursor=cursor, limit=limit)


@router.get("/{user_id}/following", response_model=UsersPage, responses=_READ_ERRORS)
async def read_following(
    user_id: str,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    viewer: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Cursor = None,
) -> UsersPage:
    """List the accounts a user follows, one cursor page at a time."""
    return await read_follows(redis, db, keys, "following", user_id, cursor=cursor, limit=limit)
