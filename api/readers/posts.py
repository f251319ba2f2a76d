"""Post hydration shared by every view that lists posts (feed, profile grid, hashtags).

``hydrate_posts`` turns post ids into ``PostPublic`` in two pipelined round trips
and asks ``domain.visibility`` about each one at read time, so deleted, blocked,
muted, unfollowed and private posts disappear the moment the graph changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import redis.asyncio as aioredis

from api.readers.engagement import (
    counts_of,
    likes_of,
    queue_counts,
    queue_viewer_likes,
    read_post_author,
    stats_public,
    viewer_likes,
)
from api.readers.media import media_of, queue_media
from api.readers.ties import queue_ties, read_ties, require_content, ties_of
from clients.cassandra import Db
from domain.clock import from_ms, to_ms
from domain.cursors import decode_cursor, encode_cursor, int_field, str_field
from domain.errors import NotFound
from domain.visibility import DIRECT, may_see_post, post_shown
from schemas.redis_hashes import PostHash
from schemas.redis_keys import RedisKeys
from schemas.views import MediaPublic, PostPublic, PostsPage

_GRID_TAIL = "SELECT created_at, post_id FROM posts_by_author WHERE author_id = ? AND (created_at, post_id) < (?, ?) LIMIT ?"


async def hydrate_posts(
    redis: aioredis.Redis,
    keys: RedisKeys,
    viewer_id: str,
    post_ids: Sequence[str],
    *,
    sources: Mapping[str, str] | None = None,
    surfaces: Mapping[str, str] | None = None,
) -> list[PostPublic]:
    """The posts ``viewer_id`` may see, in the given order, with author, media and counts.

    Two pipelined round trips: the posts with their counts and the viewer's likes, then
    the authors' ties and the media. ``surfaces`` names where each post is shown
    (``domain.visibility``: direct, feed, discovery; direct by default), which decides
    the rule it must pass; ``sources`` labels each post (push, pull, recommended).
    """
    if not post_ids:
        return []
    ids = list(post_ids)
    async with redis.pipeline(transaction=False) as pipe:
        for post_id in ids:
            pipe.hgetall(keys.post(post_id))
        queue_counts(pipe, keys, ids)
        queue_viewer_likes(pipe, keys, viewer_id, ids)
        *rows, raw_counts, liked, pending = await pipe.execute()
    found = [
        (post_id, post)
        for post_id, post in zip(ids, map(PostHash.from_fields, rows), strict=True)
        if post is not None and post.state not in ("", "deleted")
    ]
    if not found:
        return []
    authors = list(dict.fromkeys(post.author_id for _, post in found))
    media_ids = [ref["media_id"] for _, post in found for ref in post.media or ()]
    async with redis.pipeline(transaction=False) as pipe:
        n_ties = queue_ties(pipe, keys, viewer_id, authors)
        queue_media(pipe, keys, media_ids)
        replies = await pipe.execute()
    owners = ties_of(viewer_id, authors, replies[:n_ties])
    media = media_of(media_ids, replies[n_ties:])
    counts, likes = counts_of(ids, raw_counts), likes_of(ids, liked, pending)
    return [
        PostPublic(
            post_id=post_id,
            author=owners[post.author_id].profile,
            caption=post.caption or "",
            media=[
                media[ref["media_id"]][1]
                if ref["media_id"] in media
                else MediaPublic(
                    media_id=ref["media_id"], kind=ref.get("kind", "photo"), state="pending"
                )
                for ref in post.media or ()
            ],
            state=post.state,
            reason=post.reason if post.author_id == viewer_id else None,
            created_at=post.created_ms,
            stats=stats_public(counts[post_id], likes[post_id]),
            viewer_has_liked=viewer_likes(likes[post_id]),
            source=sources.get(post_id) if sources else None,
        )
        for post_id, post in found
        if post_shown(
            (surfaces or {}).get(post_id, DIRECT),
            owners[post.author_id].ties,
            owners[post.author_id].account,
            post.state,
        )
    ]


async def require_post(
    redis: aioredis.Redis, db: Db, keys: RedisKeys, viewer_id: str, post_id: str
) -> str:
    """The author of a post the viewer may see (to act on it); ``NotFound`` otherwise."""
    found = await read_post_author(redis, db, keys, post_id)
    if found is None:
        raise NotFound(f"post {post_id!r}")
    author_id, state = found
    owner = (await read_ties(redis, keys, viewer_id, [author_id]))[author_id]
    if not may_see_post(owner.relation, owner.account, state):
        raise NotFound(f"post {post_id!r}")
    return author_id


async def read_post(
    redis: aioredis.Redis, keys: RedisKeys, viewer_id: str, post_id: str
) -> PostPublic:
    """One post the viewer may see; ``NotFound`` otherwise."""
    posts = await hydrate_posts(redis, keys, viewer_id, [post_id])
    if not posts:
        raise NotFound(f"post {post_id!r}")
    return posts[0]


async def read_author_posts(
    redis: aioredis.Redis,
    db: Db,
    keys: RedisKeys,
    viewer_id: str,
    author_id: str,
    *,
    limit: int,
    cursor: str | None,
    tail_cap: int,
) -> PostsPage:
    """An author's grid, newest first; the author also sees processing and failed posts.

    ``tail_cap`` is the length of the Redis tail (``author_posts_cap``): a tail that
    full may have older posts, read from Cassandra's per-author index.
    """
    top_ms: int | None = None
    top_id: str | None = None
    if cursor:
        fields = decode_cursor(cursor, "c", "p")
        top_ms, top_id = int_field(fields, "c"), str_field(fields, "p")
    await require_content(redis, keys, viewer_id, author_id)
    own = viewer_id == author_id
    # Ties on one millisecond: over-fetch and cut at the cursor's (score, id).
    want = limit + 1
    async with redis.pipeline(transaction=False) as pipe:
        for key in [keys.author_posts(author_id)] + (
            [keys.author_pending(author_id)] if own else []
        ):
            pipe.zrevrangebyscore(
                key,
                top_ms if top_ms is not None else "+inf",
                "-inf",
                start=0,
                num=want + 50,
                withscores=True,
            )
        pipe.zcard(keys.author_posts(author_id))
        *lists, tail_size = await pipe.execute()
    entries = sorted(
        {(int(score), post_id) for entries in lists for post_id, score in entries},
        reverse=True,
    )
    if top_ms is not None:
        entries = [e for e in entries if e < (top_ms, top_id)]
    if len(entries) < want and tail_size >= tail_cap:
        # Past the Redis tail: the durable per-author index.
        last_ms, last_id = entries[-1] if entries else (top_ms, top_id)
        if last_ms is not None:
            rows = await db.execute(
                _GRID_TAIL,
                (
                    author_id,
                    from_ms(last_ms),
                    last_id,
                    want - len(entries),
                ),
            )
            entries += [(to_ms(r.created_at), r.post_id) for r in rows]
    page_entries = entries[:want]
    posts = await hydrate_posts(
        redis,
        keys,
        viewer_id,
        [post_id for _, post_id in page_entries[:limit]],
    )
    next_cursor = None
    if len(page_entries) > limit:
        last_ms, last_id = page_entries[limit - 1]
        next_cursor = encode_cursor(c=last_ms, p=last_id)
    return PostsPage(data=posts, next_cursor=next_cursor)
