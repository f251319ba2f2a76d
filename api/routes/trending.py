"""Trending hashtags and tag pages."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import CurrentUser, Cursor, DbDep, KeysDep, RedisDep
from api.errors import ApiError, error_responses
from api.readers.trending import read_tag_posts, read_trending
from domain.clock import now_ms
from domain.trending import normalize_tag, parse_hashtags
from schemas.views import HashtagPostsPage, TrendingHashtagsPublic

router = APIRouter(tags=["trending"])

_ERRORS = error_responses(401, 422)
MAX_TRENDING = 100
MAX_PAGE = 100


@router.get("/trending/hashtags", response_model=TrendingHashtagsPublic, responses=_ERRORS)
async def read_trending_hashtags(
    redis: RedisDep,
    keys: KeysDep,
    viewer: CurrentUser,
    window: Annotated[Literal["1h", "24h", "7d"], Query(description="sliding window")] = "1h",
    limit: Annotated[int, Query(ge=1, le=MAX_TRENDING)] = 10,
) -> TrendingHashtagsPublic:
    """Tags with the most distinct posting users over a sliding window."""
    return await read_trending(redis, keys, window=window, limit=limit, now=now_ms())


@router.get(
    "/hashtags/{tag}/posts",
    response_model=HashtagPostsPage,
    responses=error_responses(401, 422, 400),
)
async def read_hashtag_posts(
    tag: str,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    viewer: CurrentUser,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
) -> HashtagPostsPage:
    """A hashtag's recent posts, newest first."""
    parsed = parse_hashtags("#" + tag.lstrip("#"))
    if len(parsed) != 1 or parsed[0] != normalize_tag(tag.lstrip("#")):
        raise ApiError(422, "invalid_request", f"not a hashtag: {tag!r}")
    return await read_tag_posts(
        redis, db, keys, viewer_id=viewer, tag=parsed[0], cursor=cursor, limit=limit
    )
