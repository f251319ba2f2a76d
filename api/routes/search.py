"""Search as you type: users and hashtags, the viewer's own graph first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import CurrentUser, Cursor, KeysDep, RedisDep
from api.errors import error_responses
from api.readers.search import read_search
from domain.clock import now_ms
from domain.search import MAX_QUERY_CHARS
from schemas.views import SearchPage

router = APIRouter(tags=["search"])

MAX_PAGE = 50


@router.get("/search", response_model=SearchPage, responses=error_responses(401, 422, 400))
async def read_search_results(
    redis: RedisDep,
    keys: KeysDep,
    viewer: CurrentUser,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=4 * MAX_QUERY_CHARS,
            description="what was typed so far; matched from its first character",
        ),
    ],
    type: Annotated[
        Literal["users", "hashtags", "all"], Query(description="what to search")
    ] = "all",
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 10,
) -> SearchPage:
    """Users and hashtags by prefix (one typo forgiven from 4 characters), accounts the
    viewer follows first, then their followers, then by follower count or tag posts."""
    return await read_search(
        redis, keys, viewer_id=viewer, q=q, kind=type, limit=limit, cursor=cursor, now_ms=now_ms()
    )
