"""Story reads: trays, an author's stories, one story and its viewers, from Redis.

Every read asks ``domain.visibility`` at ``now``: a story past 24 h from its
``occurred_at`` is never returned whatever the worker has or has not swept, a
close-friends story does not exist for anyone else, a private account's stories only
for its followers, and blocks hide both ways.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from api.readers.media import read_media_many
from api.readers.ties import queue_ties, read_ties, ties_of
from domain.cursors import decode_cursor, encode_cursor, int_field, str_field
from domain.stories import TrayCandidate, expires_at_ms, is_live, live_since_ms, order_tray
from domain.visibility import Relation, in_tray, may_see_content, may_see_story
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
    """The viewer's tray: authors with a live story for them, in tray order.

    The stored tray is a hint written at fan-out; every entry is checked again now: the
    author still followed, not muted, visible (``domain.visibility.in_tray``), and a live
    story left that this viewer may see (a close-friends story only while still one).
    """
    offset = int_field(decode_cursor(cursor, "o"), "o") if cursor is not None else 0
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrangebyscore(
            keys.story_tray(viewer_id), f"({live_since_ms(now)}", "+inf", withscores=True
        )
        pipe.hgetall(keys.stories_seen(viewer_id))
        entries, seen = await pipe.execute()
    if not entries:
        return TrayPage(data=[])
    # The ties and each tray author's newest live story, with and without the
    # close-friends-only ones, in one round trip: no story card is read.
    authors = [a for a, _ in entries]
    async with redis.pipeline(transaction=False) as pipe:
        n_ties = queue_ties(pipe, keys, viewer_id, authors)
        for author in authors:
            for key in (keys.author_stories(author), keys.author_open_stories(author)):
                pipe.zrevrangebyscore(
                    key, "+inf", f"({live_since_ms(now)}", start=0, num=1, withscores=True
                )
        replies = await pipe.execute()
    owners = ties_of(viewer_id, authors, replies[:n_ties])
    newest = replies[n_ties:]
    latest = {}
    for i, author in enumerate(authors):
        owner = owners[author]
        if not in_tray(owner.ties, owner.account):
            continue
        every, open_only = newest[2 * i], newest[2 * i + 1]
        # Every live story when the viewer may see close-friends ones, else the others.
        seen_all = may_see_story(owner.relation, owner.account, live=True, close_friends_only=True)
        shown = every if seen_all else open_only
        if shown and may_see_story(
            owner.relation, owner.account, live=True, close_friends_only=seen_all
        ):
            latest[author] = int(shown[0][1])
    candidates = [
        TrayCandidate(
            author_id=author,
            latest_ms=latest[author],
            seen_up_to_ms=int(seen[author]) if author in seen else None,
            close_friend=owners[author].relation is Relation.CLOSE_FRIEND,
        )
        for author in latest
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
    owner = (await read_ties(redis, keys, viewer_id, [author_id]))[author_id]
    if not may_see_content(owner.relation, owner.account):
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for story_id in story_ids:
            pipe.hgetall(keys.story(story_id))
        pipe.hget(keys.stories_seen(viewer_id), author_id)
        *cards, seen_up_to = await pipe.execute()
    visible = []
    for story_id, fields in zip(story_ids, cards, strict=True):
        card = StoryHash.from_fields(fields)
        if card is None or card.author_id != author_id:
            continue  # deleted (or expired) meanwhile
        created_ms, close_only = card.created_ms, card.close_friends_only
        if not may_see_story(
            owner.relation,
            owner.account,
            live=is_live(created_ms, now),
            close_friends_only=close_only,
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
