"""The home feed of the token's user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, Cursor, KeysDep, RedisDep, SettingsDep
from api.errors import error_responses
from api.readers.feeds import read_feed
from domain.clock import now_ms
from domain.errors import Forbidden
from schemas.views import FeedPage

router = APIRouter(tags=["feed"])

MAX_LIMIT = 100

_ERRORS = error_responses(400, 401, 410)


@router.get("/feed", response_model=FeedPage, responses=_ERRORS)
async def read_home_feed(
    redis: RedisDep,
    keys: KeysDep,
    settings: SettingsDep,
    viewer: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Cursor = None,
) -> FeedPage:
    """Read the token's user's home feed, ranked, one cursor page at a time."""
    return await read_feed(
        redis, keys, settings, viewer, now_ms=now_ms(), limit=limit, cursor=cursor
    )


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
    cursor: Cursor = None,
) -> FeedPage:
    """Read a home feed by user id: only the token's own user (or "me") may."""
    if user_id not in ("me", viewer):
        raise Forbidden("a home feed is readable only by its owner")
    return await read_feed(
        redis, keys, settings, viewer, now_ms=now_ms(), limit=limit, cursor=cursor
    )
