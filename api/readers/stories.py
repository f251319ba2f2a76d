"""Story reads: trays, an author's stories, one story and its viewers, from Redis.

Every read re-applies the rules of ``domain.stories`` at ``now``: a story past 24 h
from its ``occurred_at`` is never returned whatever the worker has or has not swept,
a close-friends story does not exist for anyone else, and blocks hide both ways.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from api.readers.media import read_media_many
from domain.cursors import decode_cursor, encode_cursor, int_field, str_field
from domain.stories import (
    TrayCandidate,
    expires_at_ms,
    is_live,
    live_since_ms,
    may_see,
    order_tray,
)
from schemas.redis_hashes import StoryHash
from schemas.redis_keys import RedisKeys
from schemas.views import (
    MediaPublic,
    StoryPublic,
    StoryViewerPublic,
    StoryViewersPage,
    TrayEntryPublic,
    TrayPage,
)


async def read_tray(
    redis: aioredis.Redis,
    keys: RedisKeys,
    *,
    viewer_id: str,
    now: int,
    limit: int,
    cursor: str | None,
) -> TrayPage:
    """The viewer's tray: authors with a live story for them, in tray order."""
    offset = int_field(decode_cursor(cursor, "o"), "o") if cursor is not None else 0
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrangebyscore(
            keys.story_tray(viewer_id), f"({live_since_ms(now)}", "+inf", withscores=True
        )
        pipe.hgetall(keys.stories_seen(viewer_id))
        pipe.smembers(keys.blocked(viewer_id))
        pipe.smembers(keys.close_friend_of(viewer_id))
        entries, seen, blocked, close = await pipe.execute()
    entries = [(a, int(score)) for a, score in entries if a not in blocked]
    if not entries:
        return TrayPage(data=[])
    # Follows and close friendship are read now, so an unfollow or a removal from
    # close friends applies at once.
    following = await redis.smismember(keys.following(viewer_id), [a for a, _ in entries])
    candidates = [
        TrayCandidate(
            author_id=author,
            latest_ms=latest,
            seen_up_to_ms=int(seen[author]) if author in seen else None,
            close_friend=author in close,
        )
        for (author, latest), follows in zip(entries, following, strict=True)
        if follows
    ]
    ordered = order_tray(candidates, now)
    page = ordered[offset : offset + limit]
    more = offset + limit < len(ordered)
    return TrayPage(
        data=[
            TrayEntryPublic(
                author_id=e.author_id,
                latest_story_at=e.latest_ms,
                has_unseen=e.has_unseen,
                close_friend=e.close_friend,
            )
            for e in page
        ],
        next_cursor=encode_cursor(o=offset + limit) if more else None,
    )


async def _visible(
    redis: aioredis.Redis,
    keys: RedisKeys,
    *,
    viewer_id: str,
    author_id: str,
    story_ids: Sequence[str],
    now: int,
) -> list[StoryPublic]:
    async with redis.pipeline(transaction=False) as pipe:
        for story_id in story_ids:
            pipe.hgetall(keys.story(story_id))
        pipe.sismember(keys.close_friends(author_id), viewer_id)
        pipe.sismember(keys.blocked(viewer_id), author_id)
        pipe.hget(keys.stories_seen(viewer_id), author_id)
        *cards, close_friend, blocked, seen_up_to = await pipe.execute()
    visible = []
    for story_id, fields in zip(story_ids, cards, strict=True):
        card = StoryHash.from_fields(fields)
        if card is None or card.author_id != author_id:
            continue  # deleted (or expired) meanwhile
        created_ms, close_only = card.created_ms, card.close_friends_only
        if not is_live(created_ms, now) or not may_see(
            viewer_id=viewer_id,
            author_id=author_id,
            close_friends_only=close_only,
            viewer_is_close_friend=bool(close_friend),
            blocked=bool(blocked),
        ):
            continue
        visible.append((story_id, created_ms, close_only, card.media_id))
    media = await read_media_many(redis, keys, [m for *_, m in visible if m])
    return [
        StoryPublic(
            story_id=story_id,
            author_id=author_id,
            created_at=created_ms,
            expires_at=expires_at_ms(created_ms),
            close_friends_only=close_only,
            seen=seen_up_to is not None and created_ms <= int(seen_up_to),
            media=media[media_id][1]
            if media_id in media
            else MediaPublic(media_id=media_id, kind="photo", state="pending"),
        )
        for story_id, created_ms, close_only, media_id in visible
    ]


async def read_author_stories(
    redis: aioredis.Redis, keys: RedisKeys, *, viewer_id: str, author_id: str, now: int
) -> list[StoryPublic]:
    """The author's live stories the viewer may see, oldest first (play order)."""
    story_ids = await redis.zrangebyscore(
        keys.author_stories(author_id), f"({live_since_ms(now)}", "+inf"
    )
    if not story_ids:
        return []
    return await _visible(
        redis, keys, viewer_id=viewer_id, author_id=author_id, story_ids=story_ids, now=now
    )


async def read_story(
    redis: aioredis.Redis, keys: RedisKeys, *, viewer_id: str, story_id: str, now: int
) -> StoryPublic | None:
    """One story, or None when it is gone or hidden from this viewer."""
    author_id = await redis.hget(keys.story(story_id), "author_id")
    if author_id is None:
        return None
    found = await _visible(
        redis, keys, viewer_id=viewer_id, author_id=author_id, story_ids=[story_id], now=now
    )
    return found[0] if found else None


async def read_viewers(
    redis: aioredis.Redis,
    keys: RedisKeys,
    *,
    viewer_id: str,
    story_id: str,
    now: int,
    limit: int,
    cursor: str | None,
) -> StoryViewersPage | None:
    """Who watched the story, newest first; None unless the viewer is its (live) author."""
    max_score: str = "+inf"
    after: tuple[int, str] | None = None
    if cursor is not None:
        fields = decode_cursor(cursor, "t", "u")
        after = (int_field(fields, "t"), str_field(fields, "u"))
        max_score = str(after[0])
    card = await redis.hmget(keys.story(story_id), *StoryHash.IDENTITY)
    author_id, created = card
    if author_id != viewer_id or created is None or not is_live(int(created), now):
        return None
    async with redis.pipeline(transaction=False) as pipe:
        # Viewers sharing the cursor's millisecond are skipped by member below; fetch
        # enough extra to cover them.
        pipe.zrevrangebyscore(
            keys.story_viewers(story_id),
            max_score,
            "-inf",
            start=0,
            num=limit + 101,
            withscores=True,
        )
        pipe.get(keys.story_views(story_id))
        rows, count = await pipe.execute()
    viewers = [(member, int(score)) for member, score in rows]
    if after is not None:
        # ZREVRANGE order: score desc, then member desc.
        viewers = [(m, s) for m, s in viewers if s < after[0] or (s == after[0] and m < after[1])]
    page, more = viewers[:limit], len(viewers) > limit
    return StoryViewersPage(
        story_id=story_id,
        count=int(count or 0),
        data=[StoryViewerPublic(user_id=m, viewed_at=s) for m, s in page],
        next_cursor=encode_cursor(t=page[-1][1], u=page[-1][0]) if more and page else None,
    )
