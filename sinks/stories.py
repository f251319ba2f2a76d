"""Project stories to Redis (trays, story cards, receipts) and Cassandra (durable copies).

All writes are absolute or set-like: a story card is a hash with an absolute expiry,
tray entries are ZADD of an author's newest visible story (GT on creation, the exact
recomputed value on removal), receipts are first-view times (or removed, once
withdrawn) and counts are absolute. Seen marks are written a batch of views at a time
(``write_seen_marks``).
Who receives a story, and each tray's score after a removal, are decided by the agent
(``domain.fanout``, ``domain.stories``) from ``sinks.graph.read_audience``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from clients.lua import Lua
from clients.redis import pipelined
from domain.clock import from_ms, ms_to_micros, to_micros, to_ms
from domain.clock import now_ms as now
from domain.fanout import story_recipients
from domain.stories import LiveStory, expires_at_ms
from schemas.events import StoryCreated
from schemas.redis_hashes import StoryHash
from sinks.connections import Connections
from sinks.graph import read_audience

logger = logging.getLogger(__name__)

_INSERT_STORY = (
    "INSERT INTO stories (author_id, created_at, story_id, media_id, close_friends_only) "
    "VALUES (?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?"
)
_DELETE_STORY = (
    "DELETE FROM stories USING TIMESTAMP ? WHERE author_id = ? AND created_at = ? AND story_id = ?"
)
_UPSERT_VIEWER = (
    "INSERT INTO story_viewers (story_id, viewer_id, viewed_at) VALUES (?, ?, ?) USING TTL ?"
)
_UPSERT_VIEWS = "UPDATE story_stats USING TTL ? SET views = ? WHERE story_id = ?"
_DELETE_VIEWER = "DELETE FROM story_viewers WHERE story_id = ? AND viewer_id = ?"
_AUTHOR_ROW = "SELECT story_id FROM stories WHERE author_id = ? LIMIT 1"
_VIEWED_BY = "SELECT story_id FROM story_viewers WHERE viewer_id = ?"
_ERASE = (
    "DELETE FROM story_viewers WHERE story_id = ?",
    "DELETE FROM story_stats WHERE story_id = ?",
)
_ERASE_BY_AUTHOR = "DELETE FROM stories WHERE author_id = ?"

# Receipts outlive the story by a day so a late flush still lands; then they go.
RECEIPTS_TTL_S = 48 * 3600

# Seen-up-to watermark: only ever moves forward. KEYS[1]=seen hash; ARGV=author, ms, ttl.
_SEEN_MAX = Lua("""
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (not current) or tonumber(current) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
""")


async def write_story(conn: Connections, event: StoryCreated, now_ms: int) -> None:
    """Store a live story: its durable row, its card and its author's list (both expire)."""
    created_ms = event.occurred_ms
    expires_ms = expires_at_ms(created_ms)
    ttl_s = max(1, (expires_ms - now_ms) // 1000)
    await conn.execute(
        _INSERT_STORY,
        (
            event.user_id,
            event.occurred_at,
            event.story_id,
            event.media_id,
            event.close_friends_only,
            ttl_s,
            to_micros(event.occurred_at),
        ),
    )
    keys = conn.keys
    async with conn.redis().pipeline(transaction=True) as pipe:
        card = StoryHash(event.user_id, created_ms, event.media_id, event.close_friends_only)
        pipe.hset(keys.story(event.story_id), mapping=card.mapping())
        pipe.pexpireat(keys.story(event.story_id), expires_ms)
        lists = [keys.author_stories(event.user_id)]
        if not event.close_friends_only:
            lists.append(keys.author_open_stories(event.user_id))
        for key in lists:
            pipe.zadd(key, {event.story_id: created_ms})
            pipe.pexpireat(key, expires_ms, gt=True)
            pipe.pexpireat(key, expires_ms, nx=True)
        await pipe.execute()


async def push_story(
    conn: Connections, *, author_id: str, created_ms: int, recipients: Sequence[str]
) -> int:
    """The author into each recipient's tray, scored by this story unless newer is there."""
    keys, expires_ms = conn.keys, expires_at_ms(created_ms)
    commands: list[Callable[[Any], object]] = []
    for viewer in recipients:
        tray = keys.story_tray(viewer)
        commands.append(lambda p, tray=tray: p.zadd(tray, {author_id: created_ms}, gt=True))
        commands.append(lambda p, tray=tray: p.pexpireat(tray, expires_ms, gt=True))
        commands.append(lambda p, tray=tray: p.pexpireat(tray, expires_ms, nx=True))
    await pipelined(conn.redis(), commands)
    return len(recipients)


async def read_author_stories(conn: Connections, author_id: str) -> list[LiveStory]:
    """The author's stories still in Redis (their cards expire with them)."""
    keys, redis = conn.keys, conn.redis()
    entries = await redis.zrange(keys.author_stories(author_id), 0, -1, withscores=True)
    if not entries:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for story_id, _ in entries:
            pipe.hget(keys.story(story_id), "close_friends_only")
        flags = await pipe.execute()
    return [
        LiveStory(story_id, int(created_ms), flag == "1")
        for (story_id, created_ms), flag in zip(entries, flags, strict=True)
        if flag is not None
    ]


async def raise_in_tray(conn: Connections, *, viewer_id: str, author_id: str, score: int) -> None:
    """The author into the viewer's tray at ``score`` unless a newer story is there."""
    tray, expires_ms = conn.keys.story_tray(viewer_id), expires_at_ms(score)
    async with conn.redis().pipeline(transaction=False) as pipe:
        pipe.zadd(tray, {author_id: score}, gt=True)
        pipe.pexpireat(tray, expires_ms, gt=True)
        pipe.pexpireat(tray, expires_ms, nx=True)
        await pipe.execute()


async def remove_story(
    conn: Connections, *, author_id: str, story: LiveStory, event_micros: int
) -> None:
    """Take a story out of the store and its card and author list (deleted or expired)."""
    story_id = story.story_id
    micros = max(event_micros, ms_to_micros(story.created_ms + 1))
    await conn.execute(_DELETE_STORY, (micros, author_id, from_ms(story.created_ms), story_id))
    keys = conn.keys
    async with conn.redis().pipeline(transaction=True) as pipe:
        pipe.delete(keys.story(story_id))
        pipe.zrem(keys.author_stories(author_id), story_id)
        pipe.zrem(keys.author_open_stories(author_id), story_id)
        await pipe.execute()


async def rescore_trays(
    conn: Connections, *, author_id: str, scores: Mapping[str, int | None]
) -> None:
    """Each viewer's tray entry for the author at its new score, or out (None); only
    entries that exist are changed."""
    keys = conn.keys
    commands: list[Callable[[Any], object]] = []
    for viewer, score in scores.items():
        tray = keys.story_tray(viewer)
        if score is None:
            commands.append(lambda p, tray=tray: p.zrem(tray, author_id))
        else:
            commands.append(lambda p, tray=tray, s=score: p.zadd(tray, {author_id: s}, xx=True))
    await pipelined(conn.redis(), commands)


async def write_seen(conn: Connections, *, viewer_id: str, story_id: str, author_id: str) -> bool:
    """Move the viewer's seen-up-to mark for the author to this story; False if unknown."""
    created = await conn.redis().hget(conn.keys.story(story_id), "created_ms")
    if created is None:
        return False
    await _SEEN_MAX(
        conn.redis(), [conn.keys.stories_seen(viewer_id)], [author_id, created, RECEIPTS_TTL_S]
    )
    return True


@dataclass(frozen=True)
class SeenMark:
    """A viewer watched one of the author's stories."""

    viewer_id: str
    story_id: str
    author_id: str


async def write_seen_marks(conn: Connections, marks: Sequence[SeenMark]) -> int:
    """``write_seen`` for a batch of views: the stories' creation times in one pipelined
    read, then each (viewer, author) mark moved to the newest story watched in one
    pipeline of the watermark script; stories no longer known are skipped. Returns the
    marks written."""
    if not marks:
        return 0
    redis, keys = conn.redis(), conn.keys
    story_ids = list(dict.fromkeys(m.story_id for m in marks))
    created = await pipelined(
        redis, [lambda p, s=s: p.hget(keys.story(s), "created_ms") for s in story_ids]
    )
    created_of = {s: int(c) for s, c in zip(story_ids, created, strict=True) if c is not None}
    newest: dict[tuple[str, str], int] = {}
    for mark in marks:
        ms = created_of.get(mark.story_id)
        if ms is not None:
            key = (mark.viewer_id, mark.author_id)
            newest[key] = max(ms, newest.get(key, ms))
    await pipelined(
        redis,
        [
            lambda p, v=viewer, a=author, ms=ms: _SEEN_MAX.queue(
                p, [keys.stories_seen(v)], [a, ms, RECEIPTS_TTL_S]
            )
            for (viewer, author), ms in newest.items()
        ],
    )
    return len(newest)


async def write_receipts(
    conn: Connections,
    viewers: Mapping[str, Mapping[str, int | None]],
    counts: Mapping[str, int],
) -> None:
    """Absolute receipts: {story: {viewer: first view ms, or None for a withdrawn
    receipt}} and {story: distinct viewers}."""
    keys = conn.keys
    redis = conn.redis()
    kept = {s: {v: ms for v, ms in first.items() if ms is not None} for s, first in viewers.items()}
    gone = [(s, v) for s, first in viewers.items() for v, ms in first.items() if ms is None]
    async with redis.pipeline(transaction=False) as pipe:
        for story_id, first_views in kept.items():
            if first_views:
                pipe.zadd(keys.story_viewers(story_id), first_views)
                pipe.expire(keys.story_viewers(story_id), RECEIPTS_TTL_S)
        for story_id, viewer in gone:
            pipe.zrem(keys.story_viewers(story_id), viewer)
        for story_id, count in counts.items():
            pipe.set(keys.story_views(story_id), count, ex=RECEIPTS_TTL_S)
        await pipe.execute()
    db = await conn.db()
    # Rows grouped by story in UNLOGGED batches: a flush of thousands of first views is a
    # few dozen requests, not one per row (each row is still its own absolute write).
    await db.execute_unlogged(
        _UPSERT_VIEWER,
        [
            (story_id, viewer, from_ms(ms), RECEIPTS_TTL_S)
            for story_id, first_views in sorted(kept.items())
            for viewer, ms in first_views.items()
        ],
    )
    await db.execute_unlogged(_DELETE_VIEWER, sorted(gone))
    await db.execute_unlogged(
        _UPSERT_VIEWS, [(RECEIPTS_TTL_S, count, story_id) for story_id, count in counts.items()]
    )


async def erase_stories(conn: Connections, author_id: str, story_ids: Sequence[str]) -> int:
    """Every story of an erased author: cards, receipts and counts, rows. Returns how
    many traces were found."""
    db, k = await conn.db(), conn.keys
    ids = sorted(set(story_ids))
    found = len(await db.execute(_AUTHOR_ROW, (author_id,)))
    await db.execute(_ERASE_BY_AUTHOR, (author_id,))
    for cql in _ERASE:
        await db.execute_many(cql, [(story_id,) for story_id in ids])
    replies = await pipelined(
        conn.redis(),
        [lambda p, s=s: p.delete(k.story(s), k.story_viewers(s), k.story_views(s)) for s in ids],
    )
    return found + sum(int(r) for r in replies)


async def erase_receipts(conn: Connections, viewer_id: str) -> int:
    """An erased viewer's receipts on other people's stories, rows and lists (whatever
    their withdrawals left). Returns how many were found."""
    db, k = await conn.db(), conn.keys
    stories = sorted(
        {r.story_id for r in await db.scan(await db.prepare(_VIEWED_BY), (viewer_id,))}
    )
    await db.execute_many(_DELETE_VIEWER, [(story_id, viewer_id) for story_id in stories])
    await pipelined(
        conn.redis(), [lambda p, s=s: p.zrem(k.story_viewers(s), viewer_id) for s in stories]
    )
    return len(stories)


_VIEWERS = "SELECT viewer_id FROM story_viewers WHERE story_id = ?"


async def leave_audience(
    conn: Connections,
    author_id: str,
    followers: Iterable[str],
    story_ids: Sequence[str],
    post_ids: Sequence[str],
) -> int:
    """An erased author out of the trays and seen marks of their followers and of
    whoever watched their stories, and their posts out of those feeds, at once, whichever
    of the unfollows and removals the agents apply first; returns the accounts touched."""
    db = await conn.db()
    viewers: set[str] = set(followers)
    for story_id in sorted(story_ids):
        viewers |= {r.viewer_id for r in await db.scan(await db.prepare(_VIEWERS), (story_id,))}
    viewers.discard(author_id)
    if not viewers:
        return 0
    k, posts = conn.keys, sorted(post_ids)
    async with conn.redis().pipeline(transaction=False) as pipe:
        for viewer in sorted(viewers):
            pipe.zrem(k.story_tray(viewer), author_id)
            pipe.hdel(k.stories_seen(viewer), author_id)
            if posts:
                pipe.zrem(k.feed(viewer), *posts)
        if posts:
            pipe.sadd(k.feed_dirty(), *viewers)
        await pipe.execute()
    return len(viewers)


def rows_to_stories(rows: Iterable[Sequence[object]] | None) -> list[LiveStory]:
    return [LiveStory.from_row(r) for r in rows or ()]


async def rebuild_stories(conn: Connections) -> int:
    """Refill story cards, trays, receipts and seen marks from Cassandra; returns stories."""
    from schemas.events import make_event

    db = await conn.db()
    loop = asyncio.get_running_loop()
    now_ms = now()

    def scan(cql: str) -> list[object]:
        return list(db.session.execute(cql, timeout=60))

    stories = await loop.run_in_executor(
        None,
        lambda: scan(
            "SELECT author_id, created_at, story_id, media_id, close_friends_only FROM stories"
        ),
    )
    live: dict[str, tuple[str, int]] = {}
    for row in stories:
        created = row.created_at.replace(tzinfo=UTC)  # type: ignore[attr-defined]
        event = make_event(
            "story_created",
            user_id=row.author_id,  # type: ignore[attr-defined]
            story_id=row.story_id,  # type: ignore[attr-defined]
            media_id=row.media_id or "",  # type: ignore[attr-defined]
            close_friends_only=bool(row.close_friends_only),  # type: ignore[attr-defined]
            occurred_at=created,
        )
        if expires_at_ms(event.occurred_ms) > now_ms:
            await write_story(conn, event, now_ms)  # type: ignore[arg-type]
            audience = await read_audience(conn, event.user_id)  # type: ignore[attr-defined]
            await push_story(
                conn,
                author_id=event.user_id,  # type: ignore[attr-defined]
                created_ms=event.occurred_ms,
                recipients=story_recipients(
                    audience,
                    close_friends_only=event.close_friends_only,  # type: ignore[attr-defined]
                ),
            )
            live[event.story_id] = (event.user_id, event.occurred_ms)  # type: ignore[attr-defined]
    receipts = await loop.run_in_executor(
        None, lambda: scan("SELECT story_id, viewer_id, viewed_at FROM story_viewers")
    )
    viewers: dict[str, dict[str, int]] = {}
    for row in receipts:
        story = live.get(row.story_id)  # type: ignore[attr-defined]
        if story is None:
            continue
        viewed_ms = to_ms(row.viewed_at)  # type: ignore[attr-defined]
        viewers.setdefault(row.story_id, {})[row.viewer_id] = viewed_ms  # type: ignore[attr-defined]
        await write_seen(conn, viewer_id=row.viewer_id, story_id=row.story_id, author_id=story[0])  # type: ignore[attr-defined]
    await write_receipts(conn, viewers, {s: len(v) for s, v in viewers.items()})
    close = await loop.run_in_executor(
        None, lambda: scan("SELECT user_id, friend_id FROM close_friends")
    )
    await pipelined(
        conn.redis(),
        [
            lambda p, r=row: p.sadd(conn.keys.close_friend_of(r.friend_id), r.user_id)  # type: ignore[attr-defined]
            for row in close
        ],
    )
    return len(live)
