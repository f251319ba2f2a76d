"""Engagement: like, save, share and comment on posts; read comments and saved posts.

Writes produce events and answer 202; counts follow within a flush interval. Every
read and write on a post first asks the visibility policy (``require_post``): a post
the viewer may not see answers 404, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Query, status

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
from api.errors import error_responses
from api.readers.engagement import (
    comments_after,
    read_comment,
    read_comments,
    read_saved,
    read_stats,
)
from api.readers.posts import hydrate_posts, require_post
from api.readers.ties import read_ties
from api.writes import publish
from domain.clock import now_ms
from domain.engagement import new_comment_id
from domain.errors import NotFound
from domain.visibility import may_delete_comment, may_see_comment
from schemas.views import (
    AcceptedPublic,
    CommentAcceptedPublic,
    CommentCreate,
    CommentsPage,
    PostStatsPublic,
    SavedPage,
    SavedPostPublic,
)

router = APIRouter(tags=["engagement"])

MAX_LIMIT = 100

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]

_WRITE_ERRORS = error_responses(401, 404, 422, 503)


# (method, event type, what the route does): one route each on /posts/{post_id}/<noun>.
ACTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("POST", "like", "like", "Like a post (liking it again changes nothing)."),
    ("DELETE", "like", "unlike", "Take back a like (a post not liked stays not liked)."),
    ("POST", "save", "save", "Save a post to your saved list."),
    ("DELETE", "save", "unsave", "Remove a post from your saved list."),
    ("POST", "share", "share", "Record a share of a post (each accepted share counts once)."),
)
# Likes and unlikes leave a marker so their author reads their own write at once.
_PENDING = {"like": "1", "unlike": "0"}


def _action(event_type: str, summary: str) -> Callable[..., Awaitable[AcceptedPublic]]:
    async def act(
        post_id: str,
        redis: RedisDep,
        db: DbDep,
        keys: KeysDep,
        producer: ProducerDep,
        settings: SettingsDep,
        user: CurrentUser,
        idempotency_key: IdempotencyKey = None,
    ) -> AcceptedPublic:
        await require_post(redis, db, keys, user, post_id)
        accepted = await publish(
            redis,
            keys,
            producer,
            event_type=event_type,
            user_id=user,
            idempotency_key=idempotency_key,
            post_id=post_id,
        )
        if event_type in _PENDING:
            # Read your own writes until the stream has applied this one.
            await redis.set(
                keys.like_pending(user, post_id),
                _PENDING[event_type],
                ex=settings.like_pending_ttl_s,
            )
        return accepted

    act.__name__ = f"{event_type}_post"
    act.__doc__ = summary
    return act


for _method, _noun, _event_type, _summary in ACTIONS:
    router.add_api_route(
        f"/posts/{{post_id}}/{_noun}",
        _action(_event_type, _summary),
        methods=[_method],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=AcceptedPublic,
        responses=_WRITE_ERRORS,
    )


@router.get(
    "/posts/{post_id}/stats",
    response_model=PostStatsPublic,
    responses=error_responses(401, 404),
)
async def read_post_stats(
    post_id: str, redis: RedisDep, db: DbDep, keys: KeysDep, viewer: CurrentUser
) -> PostStatsPublic:
    """Read a post's like, comment, save and share counts."""
    await require_post(redis, db, keys, viewer, post_id)
    stats = await read_stats(redis, keys, [post_id], viewer_id=viewer)
    return stats[post_id]


@router.get(
    "/posts/{post_id}/comments",
    response_model=CommentsPage,
    responses=error_responses(400, 401, 404),
)
async def read_post_comments(
    post_id: str,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    viewer: CurrentUser,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> CommentsPage:
    """Read a post's comments, oldest first (comments of users you are blocked with are
    left out)."""
    after = comments_after(cursor)
    await require_post(redis, db, keys, viewer, post_id)
    return await read_comments(redis, db, keys, viewer, post_id, after=after, limit=limit)


@router.post(
    "/posts/{post_id}/comments",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CommentAcceptedPublic,
    responses=_WRITE_ERRORS,
)
async def create_comment(
    post_id: str,
    body: CommentCreate,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    producer: ProducerDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> CommentAcceptedPublic:
    """Comment on a post; the comment is listed shortly after."""
    await require_post(redis, db, keys, user, post_id)
    # The comment id doubles as the event id, so a retried request names the same comment.
    comment_id = new_comment_id(now_ms())
    accepted = await publish(
        redis,
        keys,
        producer,
        event_type="comment_created",
        user_id=user,
        idempotency_key=idempotency_key,
        event_id=comment_id,
        post_id=post_id,
        comment_id=comment_id,
        text=body.text,
    )
    return CommentAcceptedPublic(comment_id=accepted.event_id, event_id=accepted.event_id)


@router.delete(
    "/posts/{post_id}/comments/{comment_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedPublic,
    responses=error_responses(401, 403, 404, 422, 503),
)
async def delete_comment(
    post_id: str,
    comment_id: str,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    producer: ProducerDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedPublic:
    """Delete a comment: its author or the post's author only."""
    post_author = await require_post(redis, db, keys, user, post_id)
    comment = await read_comment(db, post_id, comment_id)
    # A comment the viewer may not see, or someone else's, is as if it did not exist.
    if comment is None or not may_delete_comment(user, comment.user_id, post_author):
        raise NotFound(f"comment {comment_id!r}")
    commenter = (await read_ties(redis, keys, user, [comment.user_id]))[comment.user_id]
    if not may_see_comment(True, commenter.relation):
        raise NotFound(f"comment {comment_id!r}")
    return await publish(
        redis,
        keys,
        producer,
        event_type="comment_deleted",
        user_id=user,
        idempotency_key=idempotency_key,
        post_id=post_id,
        comment_id=comment_id,
    )


@router.get(
    "/users/me/saved",
    response_model=SavedPage,
    responses=error_responses(400, 401),
)
async def read_saved_posts(
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    user: CurrentUser,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> SavedPage:
    """Read the posts you saved, newest first, as you may see them now."""
    saved, next_cursor = await read_saved(redis, db, keys, user, cursor=cursor, limit=limit)
    posts = {p.post_id: p for p in await hydrate_posts(redis, keys, user, [i for _, i in saved])}
    return SavedPage(
        data=[
            SavedPostPublic(post_id=post_id, saved_at=saved_at, post=posts[post_id])
            for saved_at, post_id in saved
            if post_id in posts
        ],
        next_cursor=next_cursor,
    )
