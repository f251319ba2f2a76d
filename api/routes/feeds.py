"""The home feed of the token's user."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio as aioredis
from fastapi import APIRouter, Query

from api.deps import CurrentUser, KeysDep, RedisDep, SettingsDep
from api.errors import ApiError, error_responses
from api.readers.feeds import read_feed
from domain.errors import Forbidden
from domain.feeds import InvalidCursor
from schemas.redis_keys import RedisKeys
from schemas.views import FeedPage
from settings import Settings

router = APIRouter(tags=["feed"])

MAX_LIMIT = 100

_ERRORS = error_responses(400, 401, 410)


async def _page(
    redis: aioredis.Redis,
    keys: RedisKeys,
    settings: Settings,
    viewer: str,
    limit: int,
    cursor: str | None,
) -> FeedPage:
    try:
        return await read_feed(redis, keys, settings, viewer, limit=limit, cursor=cursor)
    except InvalidCursor as exc:
        raise ApiError(400, "bad_request", str(exc)) from exc


@router.get("/feed", response_model=FeedPage, responses=_ERRORS)
async def read_home_feed(
    redis: RedisDep,
    keys: KeysDep,
    settings: SettingsDep,
    viewer: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> FeedPage:
    """Read the token's user's home feed, ranked, one cursor page at a time."""
    return await _page(redis, keys, settings, viewer, limit, cursor)


@router.get(
    "/users/{user_id}/feed",
    response_model=FeedPage,
    responses=error_responses(400, 401, 403, 410),
)
async def read_user_feed(
    user_id: str,
    redis: RedisDep,
    keys: KeysDep,
    settings: SettingsDep,
    viewer: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> FeedPage:
    """Read a home feed by user id: only the token's own user (or "me") may."""
    if user_id not in ("me", viewer):
        raise Forbidden("a home feed is readable only by its owner")
    return await _page(redis, keys, settings, viewer, limit, cursor)
