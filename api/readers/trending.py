"""Trending reads: the per-window lists, recounted exactly at read time, and tag pages."""

from __future__ import annotations

import redis.asyncio as aioredis

from api.readers.posts import hydrate_posts
from clients.cassandra import Db
from domain.clock import from_ms, to_ms
from domain.cursors import decode_cursor, encode_cursor, int_field, str_field
from domain.trending import rank_tags, window_start_ms
from domain.visibility import DISCOVERY
from schemas.redis_keys import RedisKeys
from schemas.views import (
    HashtagPostsPage,
    TrendingHashtagPublic,
    TrendingHashtagsPublic,
)

# The worker's list can be one recount behind; re-rank a few more than asked so a tag
# that just slipped below the cut-off can still be replaced by the next one.
_OVERFETCH = 20

_FIRST_PAGE = "SELECT created_at, post_id, author_id FROM posts_by_hashtag WHERE tag = ? LIMIT ?"
_NEXT_PAGE = (
    "SELECT created_at, post_id, author_id FROM posts_by_hashtag "
    "WHERE tag = ? AND (created_at, post_id) < (?, ?) LIMIT ?"
)


async def read_trending(
    redis: aioredis.Redis, keys: RedisKeys, *, window: str, limit: int, now: int
) -> TrendingHashtagsPublic:
    """Top tags of a window; each count is the exact distinct-user count at ``now``."""
    listed = await redis.zrevrange(keys.trending(window), 0, limit + _OVERFETCH - 1)
    start = window_start_ms(window, now)
    async with redis.pipeline(transaction=False) as pipe:
        for tag in listed:
            pipe.zcount(keys.hashtag_users(tag), f"({start}", "+inf")
        counts = await pipe.execute()
    ranked = rank_tags(dict(zip(listed, counts, strict=True)), limit)
    return TrendingHashtagsPublic(
        window=window, data=[TrendingHashtagPublic(tag=t, count=c) for t, c in ranked]
    )


async def read_tag_posts(
    redis: aioredis.Redis,
    db: Db,
    keys: RedisKeys,
    *,
    viewer_id: str,
    tag: str,
    cursor: str | None,
    limit: int,
) -> HashtagPostsPage:
    """A tag's posts, newest first, hydrated (and filtered) like every other post list."""
    if cursor is None:
        rows = await db.execute(_FIRST_PAGE, (tag, limit + 1))
    else:
        fields = decode_cursor(cursor, "c", "p")
        created_ms, post_id = int_field(fields, "c"), str_field(fields, "p")
        after = from_ms(created_ms)
        rows = await db.execute(_NEXT_PAGE, (tag, after, post_id, limit + 1))
    page, more = rows[:limit], len(rows) > limit
    # Posts hidden from this viewer (blocked, muted, private, not ready) leave a short
    # page, never a gap in the cursor: it follows the tag's own rows.
    ids = [row.post_id for row in page]
    data = await hydrate_posts(redis, keys, viewer_id, ids, surfaces=dict.fromkeys(ids, DISCOVERY))
    next_cursor = encode_cursor(c=to_ms(page[-1].created_at), p=page[-1].post_id) if more else None
    return HashtagPostsPage(tag=tag, data=data, next_cursor=next_cursor)
