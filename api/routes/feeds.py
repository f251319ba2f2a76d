"""The home feed of the token's user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, Cursor, KeysDep, ProducerDep, RedisDep, SettingsDep
from api.errors import error_responses
from api.readers.feeds import read_feed
from clients.kafka import EventProducer
from domain.clock import now_ms
from domain.errors import NotFound
from domain.fanout import needs_activity_mark
from schemas.events import make_event
from schemas.redis_keys import RedisKeys
from schemas.views import FeedPage
from settings import Settings

router = APIRouter(tags=["feed"])

MAX_LIMIT = 100

_ERRORS = error_responses(400, 401, 404, 410)


async def _page(
    redis: RedisDep,
    keys: RedisKeys,
    settings: Settings,
    producer: EventProducer,
    viewer: str,
    limit: int,
    cursor: str | None,
) -> FeedPage:
    now = now_ms()
    read = await read_feed(redis, keys, settings, viewer, now_ms=now, limit=limit, cursor=cursor)
    if read.first_page and needs_activity_mark(read.last_seen_ms, now):
        # A signal, not a wait: the worker marks the viewer active (pushes resume).
        producer.send(make_event("feed_opened", user_id=viewer))
    return read.page


@router.get("/feed", response_model=FeedPage, responses=_ERRORS)
async def read_home_feed(
    redis: RedisDep,
    keys: KeysDep,
    settings: SettingsDep,
    producer: ProducerDep,
    viewer: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Cursor = None,
) -> FeedPage:
    """Read the token's user's home feed, ranked, one cursor page at a time."""
    return await _page(redis, keys, settings, producer, viewer, limit, cursor)


@router.get(
    "/users/{user_id}/feed",
    response_model=FeedPage,
    responses=error_responses(400, 401, 404, 410),
)
async def read_user_feed(
    user_id: str,
    redis: RedisDep,
    keys: KeysDep,
    settings: SettingsDep,
    producer: ProducerDep,
    viewer: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Cursor = None,
) -> FeedPage:
    """Read a home feed by user id: only the token's own user (or "me"); anyone else's
    is not found."""
    if user_id not in ("me", viewer):
        raise NotFound(f"feed of {user_id!r}")
    return await _page(redis, keys, settings, producer, viewer, limit, cursor)
