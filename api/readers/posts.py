"""Post hydration shared by every view that lists posts (feed, profile grid, hashtags).

``hydrate_posts`` turns post ids into ``PostPublic`` in a few pipelined round trips
and asks ``domain.visibility`` about each one at read time, so deleted, blocked,
muted, unfollowed and private posts disappear the moment the graph changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import redis.asyncio as aioredis

from api.readers.engagement import read_post_author, read_stats, read_viewer_likes
from api.readers.media import read_media_many
from api.readers.ties import read_ties, require_content
from clients.cassandra import Db
from domain.clock import from_ms, to_ms
from domain.cursors import decode_cursor, encode_cursor, int_field, str_field
from domain.errors import NotFound
from domain.visibility import DIRECT, may_see_post, post_shown
from schemas.redis_hashes import PostHash
from schemas.redis_keys import RedisKeys
from schemas.views import MediaPublic, PostPublic, PostsPage, PostStatsPublic

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

    ``surfaces`` names where each post is shown (``domain.visibility``: direct, feed,
    discovery; direct by default), which decides the rule it must pass; ``sources``
    labels each post (push, pull, recommended).
    """
    if not post_ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for post_id in post_ids:
            pipe.hgetall(keys.post(post_id))
        rows = await pipe.execute()
    found = [
        (post_id, post)
        for post_id, post in zip(post_ids, map(PostHash.from_fields, rows), strict=True)
        if post is not None and post.state not in ("", "deleted")
    ]
    if not found:
        return []
    owners = await read_ties(redis, keys, viewer_id, [post.author_id for _, post in found])
    kept = [
        (post_id, post)
        for post_id, post in found
        if post_shown(
            (surfaces or {}).get(post_id, DIRECT),
            owners[post.author_id].ties,
            owners[post.author_id].account,
            post.state,
        )
    ]
    if not kept:
        return []
    ids = [post_id for post_id, _ in kept]
    media_ids = [ref["media_id"] for _, post in kept for ref in post.media or ()]
    # One connection per request, used in turn: gathering these would hold several pool
    # connections per request and exhaust the pool under load.
    media = await read_media_many(redis, keys, media_ids) if media_ids else {}
    stats = await read_stats(redis, keys, ids)
    liked = await read_viewer_likes(redis, keys, viewer_id, ids)
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
            stats=stats.get(post_id) or PostStatsPublic(),
            viewer_has_liked=post_id in liked,
            source=sources.get(post_id) if sources else None,
        )
        for post_id, post in kept
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
