"""Posts: create, delete, read one, and an author's grid."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from api.deps import (
    CurrentUser,
    Cursor,
    DbDep,
    IdempotencyKey,
    KeysDep,
    ProducerDep,
    RedisDep,
    SettingsDep,
)
from api.errors import ApiError, error_responses
from api.readers.media import read_media_many
from api.readers.posts import read_author_posts, read_post, require_post
from api.writes import publish
from domain.errors import NotFound
from schemas.views import AcceptedPublic, PostAcceptedPublic, PostPublic, PostsPage

router = APIRouter(tags=["posts"])

MAX_LIMIT = 100
MAX_MEDIA = 10


class MediaRefBody(BaseModel):
    media_id: str = Field(min_length=1, max_length=128)
    kind: Literal["photo", "video"]


class PostBody(BaseModel):
    caption: str = Field(default="", max_length=2200)
    media: list[MediaRefBody] = Field(default_factory=list, max_length=MAX_MEDIA)


def _new_post_id(user_id: str, idempotency_key: str | None) -> str:
    # A retry under the same Idempotency-Key names the same post.
    if idempotency_key:
        return hashlib.sha256(f"{user_id}\0{idempotency_key}".encode()).hexdigest()[:24]
    return uuid.uuid4().hex[:24]


@router.post(
    "/posts",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PostAcceptedPublic,
    responses=error_responses(401, 403, 422, 503),
)
async def create_post(
    body: PostBody,
    redis: RedisDep,
    keys: KeysDep,
    producer: ProducerDep,
    author: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> PostAcceptedPublic:
    """Publish a post; it reaches followers once all its media is ready."""
    media_ids = [m.media_id for m in body.media]
    if len(set(media_ids)) != len(media_ids):
        raise ApiError(422, "invalid_request", "media: the same media_id appears twice")
    known = await read_media_many(redis, keys, media_ids) if media_ids else {}
    for media_id, (owner_id, _) in known.items():
        if owner_id and owner_id != author:
            raise NotFound(f"media {media_id!r}")  # someone else's upload is not yours to post
    post_id = _new_post_id(author, idempotency_key)
    accepted = await publish(
        redis,
        keys,
        producer,
        event_type="post_created",
        user_id=author,
        idempotency_key=idempotency_key,
        post_id=post_id,
        caption=body.caption,
        media=[m.model_dump() for m in body.media],
    )
    return PostAcceptedPublic(event_id=accepted.event_id, post_id=post_id)


@router.delete(
    "/posts/{post_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedPublic,
    responses=error_responses(401, 404, 503),
)
async def delete_post(
    post_id: str,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    producer: ProducerDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedPublic:
    """Delete one of your posts; it disappears from every feed at the next read."""
    # Someone else's post is not theirs to delete: as if it did not exist.
    if await require_post(redis, db, keys, user, post_id) != user:
        raise NotFound(f"post {post_id!r}")
    return await publish(
        redis,
        keys,
        producer,
        event_type="post_deleted",
        user_id=user,
        idempotency_key=idempotency_key,
        post_id=post_id,
    )


@router.get(
    "/posts/{post_id}",
    response_model=PostPublic,
    responses=error_responses(401, 404),
)
async def read_one_post(
    post_id: str, redis: RedisDep, keys: KeysDep, viewer: CurrentUser
) -> PostPublic:
    """Read one post; its author also sees it while processing or after a failure."""
    return await read_post(redis, keys, viewer, post_id)


@router.get(
    "/users/{user_id}/posts",
    response_model=PostsPage,
    responses=error_responses(400, 401, 403, 404),
)
async def read_user_posts(
    user_id: str,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    settings: SettingsDep,
    viewer: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 24,
    cursor: Cursor = None,
) -> PostsPage:
    """Read an author's profile grid, newest first."""
    return await read_author_posts(
        redis,
        db,
        keys,
        viewer,
        user_id,
        limit=limit,
        cursor=cursor,
        tail_cap=settings.author_posts_cap,
    )
