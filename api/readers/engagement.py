"""Engagement reads: exact counts, "did this viewer like it", comments and saved posts.

The counters are exact in the worker's Faust tables and flushed here as absolute
values; a post with no flushed counts yet reads as zeros. A like or unlike made
through the API leaves a short-lived marker for its user, merged here so the user
reads their own write even while the stream is behind. Saved lists are read from
Redis, or from Cassandra while Redis has none, without writing the cache back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from cassandra import InvalidRequest

from api.readers.ties import read_ties
from clients.cassandra import Db
from domain.clock import to_ms
from domain.cursors import decode_cursor, encode_cursor, int_field, str_field
from domain.engagement import adjust_likes, merge_pending_like
from domain.visibility import may_see_comment
from schemas.redis_hashes import PostCounts, PostHash
from schemas.redis_keys import RedisKeys
from schemas.views import (
    CommentPublic,
    CommentsPage,
    PostStatsPublic,
)

_POST_ROW = "SELECT author_id, state FROM posts WHERE post_id = ?"
_COMMENTS = (
    "SELECT comment_id, user_id, text, created_at FROM comments_by_post "
    "WHERE post_id = ? AND comment_id > ? LIMIT ?"
)
_COMMENT = "SELECT comment_id, user_id, text, created_at FROM comments_by_post WHERE post_id = ? AND comment_id = ?"
_SAVES = "SELECT post_id, saved_at FROM saves_by_user WHERE user_id = ? LIMIT ?"
# Saves read from Cassandra for one page while a user's cached list is missing: the
# table is ordered by post id, not time, so a page sorts them all (a bounded read).
SAVED_FALLBACK_MAX = 10_000


def queue_counts(pipe: Any, keys: RedisKeys, post_ids: Sequence[str]) -> None:
    """One MGET of the posts' counts onto ``pipe``; ``counts_of`` reads its reply."""
    pipe.mget([keys.post_stats(post_id) for post_id in post_ids])


def counts_of(post_ids: Sequence[str], reply: Sequence[str | None]) -> dict[str, PostCounts]:
    return {
        post_id: PostCounts.from_value(raw) for post_id, raw in zip(post_ids, reply, strict=True)
    }


def queue_viewer_likes(pipe: Any, keys: RedisKeys, viewer_id: str, post_ids: Sequence[str]) -> None:
    """Two commands onto ``pipe``: which posts the viewer likes (the projected index) and
    their own likes or unlikes of moments ago; ``likes_of`` reads the two replies."""
    pipe.smismember(keys.liked(viewer_id), list(post_ids))
    pipe.mget([keys.like_pending(viewer_id, post_id) for post_id in post_ids])


def likes_of(
    post_ids: Sequence[str], liked: Sequence[int], pending: Sequence[str | None]
) -> dict[str, tuple[bool, str | None]]:
    """post_id -> (liked in the projection, the viewer's pending "1"/"0" or None)."""
    return {
        post_id: (bool(flag), mark)
        for post_id, flag, mark in zip(post_ids, liked, pending, strict=True)
    }


def stats_public(counts: PostCounts, like: tuple[bool, str | None] | None) -> PostStatsPublic:
    """The counts a viewer reads: their own fresh like or unlike merged in."""
    likes = counts.likes
    if like is not None and like[1] is not None:
        likes = adjust_likes(likes, like[0], like[1])
    return PostStatsPublic(
        likes=likes, comments=counts.comments, saves=counts.saves, shares=counts.shares
    )


def viewer_likes(like: tuple[bool, str | None] | None) -> bool:
    return like is not None and merge_pending_like(*like)


async def read_counts(
    redis: aioredis.Redis, keys: RedisKeys, post_ids: Sequence[str]
) -> dict[str, PostCounts]:
    """Counts of many posts in one command (zeros where none were flushed yet)."""
    if not post_ids:
        return {}
    return counts_of(post_ids, await redis.mget([keys.post_stats(p) for p in post_ids]))


async def read_stats(
    redis: aioredis.Redis, keys: RedisKeys, post_ids: Sequence[str], *, viewer_id: str
) -> dict[str, PostStatsPublic]:
    """The viewer's view of many posts' counts, in one pipelined round trip."""
    if not post_ids:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        queue_counts(pipe, keys, post_ids)
        queue_viewer_likes(pipe, keys, viewer_id, post_ids)
        raw, liked, pending = await pipe.execute()
    likes = likes_of(post_ids, liked, pending)
    return {
        post_id: stats_public(counts, likes[post_id])
        for post_id, counts in counts_of(post_ids, raw).items()
    }


async def read_post_author(
    redis: aioredis.Redis, db: Db, keys: RedisKeys, post_id: str
) -> tuple[str, str] | None:
    """(author, state) of a post that exists and is not deleted; None otherwise."""
    author, state = await redis.hmget(keys.post(post_id), *PostHash.IDENTITY)
    if author:
        return None if state in (None, "", "deleted") else (author, state)
    try:
        rows = await db.execute(_POST_ROW, (post_id,))
    except InvalidRequest:
        return None  # no posts table in this keyspace: nothing was ever posted
    if not rows or not rows[0].author_id or rows[0].state in (None, "deleted"):
        return None
    return rows[0].author_id, rows[0].state


def _comment(post_id: str, row: object) -> CommentPublic:
    created = row.created_at  # type: ignore[attr-defined]
    return CommentPublic(
        comment_id=row.comment_id,  # type: ignore[attr-defined]
        post_id=post_id,
        user_id=row.user_id or "",  # type: ignore[attr-defined]
        text=row.text or "",  # type: ignore[attr-defined]
        created_at=to_ms(created) if created else 0,
    )


def comments_after(cursor: str | None) -> str:
    """The comment id a comments cursor continues after ('' for the first page);
    ``InvalidCursor`` for one this list did not make."""
    return str_field(decode_cursor(cursor, "a"), "a") if cursor else ""


async def read_comments(
    redis: aioredis.Redis,
    db: Db,
    keys: RedisKeys,
    viewer_id: str,
    post_id: str,
    *,
    after: str,
    limit: int,
) -> CommentsPage:
    """A page of a post's comments, oldest first (comment ids sort by time), without
    those of commenters the viewer may not see (``domain.visibility.may_see_comment``);
    the cursor follows the post's own rows, so a filtered page is short, never a gap.
    ``after`` is ``comments_after(cursor)``."""
    rows = await db.execute(_COMMENTS, (post_id, after, limit + 1))
    comments = [_comment(post_id, row) for row in rows]
    page, more = comments[:limit], len(comments) > limit
    owners = await read_ties(redis, keys, viewer_id, [c.user_id for c in page])
    return CommentsPage(
        data=[
            c
            for c in page
            if may_see_comment(True, owners[c.user_id].relation)
            and not owners[c.user_id].account.deleted
        ],
        next_cursor=encode_cursor(a=page[-1].comment_id) if more and page else None,
    )


async def read_comment(db: Db, post_id: str, comment_id: str) -> CommentPublic | None:
    rows = await db.execute(_COMMENT, (post_id, comment_id))
    return _comment(post_id, rows[0]) if rows else None


async def read_saved(
    redis: aioredis.Redis,
    db: Db,
    keys: RedisKeys,
    user_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[tuple[int, str]], str | None]:
    """A page of a user's saved posts as (saved at ms, post id), newest first (by saved
    time, then post id), and the next page's cursor."""
    before: tuple[int, str] | None = None
    if cursor:
        fields = decode_cursor(cursor, "t", "p")
        before = (int_field(fields, "t"), str_field(fields, "p"))
    key = keys.saved(user_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(key)
        # Ties on one millisecond: over-fetch and cut at the cursor's (score, id).
        pipe.zrevrangebyscore(
            key,
            before[0] if before is not None else "+inf",
            "-inf",
            start=0,
            num=limit + 51,
            withscores=True,
        )
        cached, entries = await pipe.execute()
    if cached:
        items = [(int(score), post_id) for post_id, score in entries]
    else:
        # A cold cache: answer from Cassandra; only the worker and rebuild write Redis.
        rows = await db.execute(_SAVES, (user_id, SAVED_FALLBACK_MAX))
        items = [(to_ms(r.saved_at) if r.saved_at else 0, r.post_id) for r in rows]
    items.sort(reverse=True)
    if before is not None:
        items = [item for item in items if item < before]
    page, more = items[:limit], len(items) > limit
    return page, encode_cursor(t=page[-1][0], p=page[-1][1]) if more and page else None
