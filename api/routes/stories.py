"""Stories: the viewer's tray, an author's stories, receipts, and the story writes.

A story the viewer may not see (expired, deleted, close friends only, blocked) does
not exist for them: 404. The viewer list answers 404 to anyone but the author too,
rather than 403, so nobody can probe which story ids exist or who posted them.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import CurrentUser, Cursor, IdempotencyKey, KeysDep, ProducerDep, RedisDep
from api.errors import error_responses
from api.readers.stories import (
    read_author_stories,
    read_story,
    read_tray,
    read_viewers,
)
from api.readers.ties import require_content
from api.writes import publish
from domain.clock import now_ms
from domain.errors import NotFound
from schemas.views import (
    AcceptedPublic,
    StoriesPublic,
    StoryAcceptedPublic,
    StoryCreate,
    StoryPublic,
    StoryViewersPage,
    TrayPage,
)

router = APIRouter(tags=["stories"])

_MISSING = error_responses(401, 404)
_PAGED = error_responses(401, 400, 422)
MAX_TRAY = 500
MAX_VIEWERS = 200


@router.get("/stories/tray", response_model=TrayPage, responses=_PAGED)
async def read_story_tray(
    redis: RedisDep,
    keys: KeysDep,
    viewer: CurrentUser,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TRAY)] = 100,
) -> TrayPage:
    """The viewer's story tray: close friends, then unseen, then newest first."""
    return await read_tray(redis, keys, viewer_id=viewer, now=now_ms(), limit=limit, cursor=cursor)


@router.get("/users/{user_id}/stories", response_model=StoriesPublic, responses=_MISSING)
async def read_user_stories(
    user_id: str, redis: RedisDep, keys: KeysDep, viewer: CurrentUser
) -> StoriesPublic:
    """An author's live stories the viewer may see, in play order (404 for an account
    whose content the viewer may not see)."""
    await require_content(redis, keys, viewer, user_id)
    data = await read_author_stories(redis, keys, viewer_id=viewer, author_id=user_id, now=now_ms())
    return StoriesPublic(author_id=user_id, data=data)


@router.get("/stories/{story_id}", response_model=StoryPublic, responses=_MISSING)
async def read_one_story(
    story_id: str, redis: RedisDep, keys: KeysDep, viewer: CurrentUser
) -> StoryPublic:
    """One live story the viewer may see."""
    story = await read_story(redis, keys, viewer_id=viewer, story_id=story_id, now=now_ms())
    if story is None:
        raise NotFound(f"story {story_id!r}")
    return story


@router.get(
    "/stories/{story_id}/viewers",
    response_model=StoryViewersPage,
    responses=error_responses(401, 404, 400, 422),
)
async def read_story_viewers(
    story_id: str,
    redis: RedisDep,
    keys: KeysDep,
    viewer: CurrentUser,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_VIEWERS)] = 50,
) -> StoryViewersPage:
    """Who watched a live story, newest first; only its author may ask."""
    page = await read_viewers(
        redis,
        keys,
        viewer_id=viewer,
        story_id=story_id,
        now=now_ms(),
        limit=limit,
        cursor=cursor,
    )
    if page is None:
        raise NotFound(f"story {story_id!r}")
    return page


@router.post(
    "/stories",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StoryAcceptedPublic,
    responses=error_responses(401, 422, 503),
)
async def create_story(
    body: StoryCreate,
    redis: RedisDep,
    keys: KeysDep,
    producer: ProducerDep,
    author: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> StoryAcceptedPublic:
    """Post a story for 24 hours."""
    story_id = (
        uuid.uuid5(uuid.NAMESPACE_URL, f"story/{author}/{idempotency_key}").hex
        if idempotency_key
        else uuid.uuid4().hex
    )
    accepted = await publish(
        redis,
        keys,
        producer,
        event_type="story_created",
        user_id=author,
        idempotency_key=idempotency_key,
        story_id=story_id,
        media_id=body.media_id,
        close_friends_only=body.close_friends_only,
    )
    return StoryAcceptedPublic(story_id=story_id, event_id=accepted.event_id)


@router.post(
    "/stories/{story_id}/views",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedPublic,
    responses=error_responses(401, 404, 503),
)
async def create_story_view(
    story_id: str,
    redis: RedisDep,
    keys: KeysDep,
    producer: ProducerDep,
    viewer: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedPublic:
    """Mark a story watched by the viewer."""
    story = await read_story(redis, keys, viewer_id=viewer, story_id=story_id, now=now_ms())
    if story is None:
        raise NotFound(f"story {story_id!r}")
    return await publish(
        redis,
        keys,
        producer,
        event_type="story_viewed",
        user_id=viewer,
        idempotency_key=idempotency_key,
        story_id=story_id,
        owner_id=story.author_id,
    )


@router.delete(
    "/stories/{story_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedPublic,
    responses=error_responses(401, 404, 503),
)
async def delete_story(
    story_id: str,
    redis: RedisDep,
    keys: KeysDep,
    producer: ProducerDep,
    author: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedPublic:
    """Delete one of the viewer's own stories at once."""
    story = await read_story(redis, keys, viewer_id=author, story_id=story_id, now=now_ms())
    if story is None or story.author_id != author:
        raise NotFound(f"story {story_id!r}")
    return await publish(
        redis,
        keys,
        producer,
        event_type="story_deleted",
        user_id=author,
        idempotency_key=idempotency_key,
        story_id=story_id,
    )
