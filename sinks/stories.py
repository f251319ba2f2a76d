"""Project stories to Redis (story cards, receipts) and Cassandra (durable copies).

All writes are absolute or set-like: a story card is a hash with an absolute expiry,
author lists are ZADD of creation times, receipts are first-view times (or removed,
once withdrawn) and counts are absolute. Stories are stored and removed a batch at a
time (``write_stories``), seen marks a batch of views at a time (``write_seen_marks``).
The trays a story reaches are ``sinks.story_trays``'; who receives a story, and each
tray's score after a removal, are decided by the agent (``domain.fanout``,
``domain.stories``) from ``sinks.graph.read_audiences``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
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
from sinks.graph import read_audiences
from sinks.story_trays import TrayPush, write_trays

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


@dataclass(frozen=True)
class StoryWrite:
    """A live story stored: its durable row, its card and its author's lists."""

    event: StoryCreated


@dataclass(frozen=True)
class StoryRemoval:
    """A story taken out of the store, its card and its author's lists."""

    author_id: str
    story: LiveStory
    event_micros: int


# A live story's card and its author's lists, in one call (both expire with it).
# KEYS: card, the author's list, [the author's open list]; ARGV: expires ms, story id,
# created ms, then the card's field/value pairs.
_WRITE_STORY = Lua("""
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[3], ARGV[2])
  redis.call('PEXPIREAT', KEYS[i], ARGV[1], 'GT')
  redis.call('PEXPIREAT', KEYS[i], ARGV[1], 'NX')
end
return 1
""")


def _story_commands(conn: Connections, change: StoryWrite | StoryRemoval) -> list[Any]:
    k = conn.keys
    if isinstance(change, StoryRemoval):
        author, story_id = change.author_id, change.story.story_id
        return [
            lambda p: p.delete(k.story(story_id)),
            lambda p: p.zrem(k.author_stories(author), story_id),
            lambda p: p.zrem(k.author_open_stories(author), story_id),
        ]
    e = change.event
    keys = [k.story(e.story_id), k.author_stories(e.user_id)]
    if not e.close_friends_only:
        keys.append(k.author_open_stories(e.user_id))
    card = StoryHash(e.user_id, e.occurred_ms, e.media_id, e.close_friends_only)
    fields = [x for pair in card.mapping().items() for x in pair]
    args = [expires_at_ms(e.occurred_ms), e.story_id, e.occurred_ms, *fields]
    return [lambda p: _WRITE_STORY.queue(p, keys, args)]


def _insert_params(event: StoryCreated, now_ms: int) -> tuple[object, ...]:
    ttl_s = max(1, (expires_at_ms(event.occurred_ms) - now_ms) // 1000)
    return (
        event.user_id,
        event.occurred_at,
        event.story_id,
        event.media_id,
        event.close_friends_only,
        ttl_s,
        to_micros(event.occurred_at),
    )


def _delete_params(removal: StoryRemoval) -> tuple[object, ...]:
    story = removal.story
    # Never older than the row it deletes: a removal always wins over its creation.
    micros = max(removal.event_micros, ms_to_micros(story.created_ms + 1))
    return (micros, removal.author_id, from_ms(story.created_ms), story.story_id)


async def write_stories(
    conn: Connections, changes: Sequence[StoryWrite | StoryRemoval], now_ms: int
) -> None:
    """A batch of stories stored and removed: rows in UNLOGGED batches (each row is
    its own write, stamped with its event's time, so their order does not matter),
    then cards and author lists in one pipelined call, in the order given."""
    if not changes:
        return
    db = await conn.db()
    writes = [c.event for c in changes if isinstance(c, StoryWrite)]
    removals = [c for c in changes if isinstance(c, StoryRemoval)]
    await db.execute_unlogged(_INSERT_STORY, [_insert_params(e, now_ms) for e in writes])
    await db.execute_unlogged(_DELETE_STORY, [_delete_params(r) for r in removals])
    await pipelined(conn.redis(), [c for change in changes for c in _story_commands(conn, change)])


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


@dataclass(frozen=True)
class SeenMark:
    """A viewer watched one of the author's stories."""

    viewer_id: str
    story_id: str
    author_id: str


async def write_seen_marks(conn: Connections, marks: Sequence[SeenMark]) -> int:
    """Seen-up-to marks for a batch of views: the stories' creation times in one
    pipelined read, then each (viewer, author) mark moved to the newest story watched in one
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
    events: list[StoryCreated] = []
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
        assert isinstance(event, StoryCreated)
        if expires_at_ms(event.occurred_ms) > now_ms:
            events.append(event)
            live[event.story_id] = (event.user_id, event.occurred_ms)
    # Cards and lists before the audiences are read, as the agent does.
    await write_stories(conn, [StoryWrite(e) for e in events], now_ms)
    audiences = await read_audiences(conn, [e.user_id for e in events])
    pushes = [
        TrayPush(
            e.user_id,
            e.occurred_ms,
            story_recipients(audiences[e.user_id], close_friends_only=e.close_friends_only),
        )
        for e in events
    ]
    await write_trays(conn, pushes)
    receipts = await loop.run_in_executor(
        None, lambda: scan("SELECT story_id, viewer_id, viewed_at FROM story_viewers")
    )
    viewers: dict[str, dict[str, int]] = {}
    marks: list[SeenMark] = []
    for row in receipts:
        story = live.get(row.story_id)  # type: ignore[attr-defined]
        if story is None:
            continue
        viewed_ms = to_ms(row.viewed_at)  # type: ignore[attr-defined]
        viewers.setdefault(row.story_id, {})[row.viewer_id] = viewed_ms  # type: ignore[attr-defined]
        marks.append(SeenMark(row.viewer_id, row.story_id, story[0]))  # type: ignore[attr-defined]
    await write_seen_marks(conn, marks)
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
