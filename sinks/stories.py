"""Project stories to Redis (trays, story cards, receipts) and Cassandra (durable copies).

All writes are absolute or set-like: a story card is a hash with an absolute expiry,
tray entries are ZADD of an author's newest visible story (GT on creation, the exact
recomputed value on removal), receipts are first-view times and counts are absolute.
The fan-out reads followers from the graph's Cassandra ``followers`` table and close
friends and blocks from the graph's Redis sets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from domain.stories import LiveStory, expires_at_ms, latest_visible_ms
from schemas.events import StoryCreated
from sinks.connections import Connections

logger = logging.getLogger(__name__)

_FOLLOWERS = "SELECT follower_id FROM followers WHERE user_id = ?"
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

# Receipts outlive the story by a day so a late flush still lands; then they go.
RECEIPTS_TTL_S = 48 * 3600
# Tray writes per pipeline round trip.
FANOUT_BATCH = 1000

# Seen-up-to watermark: only ever moves forward. KEYS[1]=seen hash; ARGV=author, ms, ttl.
_SEEN_MAX = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (not current) or tonumber(current) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def _ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def read_followers(conn: Connections, author_id: str) -> list[str]:
    """Every follower of the author (all pages; the driver pages in a thread)."""
    db = await conn.db()
    rows = await db.scan(await db.prepare(_FOLLOWERS), (author_id,))
    return [row.follower_id for row in rows]


async def _audience(conn: Connections, author_id: str) -> tuple[list[str], set[str]]:
    """(followers the author is not blocked with, the author's close friends)."""
    followers = await read_followers(conn, author_id)
    redis = conn.redis()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.smembers(conn.keys.blocked(author_id))
        pipe.smembers(conn.keys.close_friends(author_id))
        blocked, close = await pipe.execute()
    return [f for f in followers if f not in blocked and f != author_id], set(close)


async def write_story(conn: Connections, event: StoryCreated, now_ms: int) -> int:
    """Store a live story and push it to its audience's trays; returns trays touched."""
    created_ms = event.occurred_ms
    expires_ms = expires_at_ms(created_ms)
    ttl_s = max(1, (expires_ms - now_ms) // 1000)
    micros = int(event.occurred_at.timestamp() * 1_000_000)
    await conn.execute(
        _INSERT_STORY,
        (
            event.user_id,
            event.occurred_at,
            event.story_id,
            event.media_id,
            event.close_friends_only,
            ttl_s,
            micros,
        ),
    )
    keys = conn.keys
    redis = conn.redis()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(
            keys.story(event.story_id),
            mapping={
                "author_id": event.user_id,
                "created_ms": created_ms,
                "media_id": event.media_id,
                "close_friends_only": "1" if event.close_friends_only else "0",
            },
        )
        pipe.pexpireat(keys.story(event.story_id), expires_ms)
        pipe.zadd(keys.author_stories(event.user_id), {event.story_id: created_ms})
        pipe.pexpireat(keys.author_stories(event.user_id), expires_ms, gt=True)
        pipe.pexpireat(keys.author_stories(event.user_id), expires_ms, nx=True)
        await pipe.execute()
    followers, close = await _audience(conn, event.user_id)
    if event.close_friends_only:
        followers = [f for f in followers if f in close]
    for start in range(0, len(followers), FANOUT_BATCH):
        async with redis.pipeline(transaction=False) as pipe:
            for viewer in followers[start : start + FANOUT_BATCH]:
                tray = keys.story_tray(viewer)
                pipe.zadd(tray, {event.user_id: created_ms}, gt=True)
                pipe.pexpireat(tray, expires_ms, gt=True)
                pipe.pexpireat(tray, expires_ms, nx=True)
            await pipe.execute()
    return len(followers)


async def add_author_to_tray(
    conn: Connections, *, viewer_id: str, author_id: str, now_ms: int
) -> bool:
    """A new follower's tray gets the author's newest live story it may see at once."""
    keys, redis = conn.keys, conn.redis()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrange(keys.author_stories(author_id), 0, -1, withscores=True)
        pipe.sismember(keys.close_friends(author_id), viewer_id)
        entries, close_friend = await pipe.execute()
    if not entries:
        return False
    async with redis.pipeline(transaction=False) as pipe:
        for story_id, _ in entries:
            pipe.hget(keys.story(story_id), "close_friends_only")
        flags = await pipe.execute()
    stories = [
        LiveStory(story_id, int(created_ms), flag == "1")
        for (story_id, created_ms), flag in zip(entries, flags, strict=True)
        if flag is not None  # the card expired with its story
    ]
    score = latest_visible_ms(stories, close_friend=bool(close_friend), now_ms=now_ms)
    if score is None:
        return False
    tray = keys.story_tray(viewer_id)
    expires_ms = expires_at_ms(score)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(tray, {author_id: score}, gt=True)
        pipe.pexpireat(tray, expires_ms, gt=True)
        pipe.pexpireat(tray, expires_ms, nx=True)
        await pipe.execute()
    return True


async def remove_story(
    conn: Connections,
    *,
    author_id: str,
    story: LiveStory,
    remaining: Sequence[LiveStory],
    event_micros: int,
    now_ms: int,
) -> int:
    """Take a story out of every view (deleted or expired); re-score the audience's trays."""
    story_id = story.story_id
    micros = max(event_micros, (story.created_ms + 1) * 1000)
    await conn.execute(_DELETE_STORY, (micros, author_id, _ts(story.created_ms), story_id))
    keys = conn.keys
    redis = conn.redis()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.story(story_id))
        pipe.zrem(keys.author_stories(author_id), story_id)
        await pipe.execute()
    followers, close = await _audience(conn, author_id)
    public = latest_visible_ms(remaining, close_friend=False, now_ms=now_ms)
    private = latest_visible_ms(remaining, close_friend=True, now_ms=now_ms)
    for start in range(0, len(followers), FANOUT_BATCH):
        async with redis.pipeline(transaction=False) as pipe:
            for viewer in followers[start : start + FANOUT_BATCH]:
                score = private if viewer in close else public
                if score is None:
                    pipe.zrem(keys.story_tray(viewer), author_id)
                else:
                    pipe.zadd(keys.story_tray(viewer), {author_id: score}, xx=True)
            await pipe.execute()
    return len(followers)


async def write_close_friend_of(
    conn: Connections, *, author_id: str, friend_id: str, present: bool
) -> None:
    """Index close friendship by the friend, so a tray read is one set read, not one per author."""
    key = conn.keys.close_friend_of(friend_id)
    if present:
        await conn.redis().sadd(key, author_id)
    else:
        await conn.redis().srem(key, author_id)


async def write_seen(conn: Connections, *, viewer_id: str, story_id: str, author_id: str) -> bool:
    """Move the viewer's seen-up-to mark for the author to this story; False if unknown."""
    created = await conn.redis().hget(conn.keys.story(story_id), "created_ms")
    if created is None:
        return False
    await conn.redis().eval(
        _SEEN_MAX,
        1,
        conn.keys.stories_seen(viewer_id),
        author_id,
        created,
        str(RECEIPTS_TTL_S),
    )
    return True


async def write_receipts(
    conn: Connections,
    viewers: Mapping[str, Mapping[str, int]],
    counts: Mapping[str, int],
) -> None:
    """Absolute receipts: {story: {viewer: first view ms}} and {story: distinct viewers}."""
    keys = conn.keys
    redis = conn.redis()
    async with redis.pipeline(transaction=False) as pipe:
        for story_id, first_views in viewers.items():
            pipe.zadd(keys.story_viewers(story_id), dict(first_views))
            pipe.expire(keys.story_viewers(story_id), RECEIPTS_TTL_S)
        for story_id, count in counts.items():
            pipe.set(keys.story_views(story_id), count, ex=RECEIPTS_TTL_S)
        await pipe.execute()
    db = await conn.db()
    await db.execute_many(
        _UPSERT_VIEWER,
        [
            (story_id, viewer, _ts(ms), RECEIPTS_TTL_S)
            for story_id, first_views in viewers.items()
            for viewer, ms in first_views.items()
        ],
    )
    await db.execute_many(
        _UPSERT_VIEWS, [(RECEIPTS_TTL_S, count, story_id) for story_id, count in counts.items()]
    )


def rows_to_stories(rows: Iterable[Sequence[object]] | None) -> list[LiveStory]:
    return [LiveStory.from_row(r) for r in rows or ()]


async def rebuild_stories(conn: Connections) -> int:
    """Refill story cards, trays, receipts and seen marks from Cassandra; returns stories."""
    from schemas.events import make_event

    db = await conn.db()
    loop = asyncio.get_running_loop()
    now_ms = int(datetime.now(UTC).timestamp() * 1000)

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
            live[event.story_id] = (event.user_id, event.occurred_ms)  # type: ignore[attr-defined]
    receipts = await loop.run_in_executor(
        None, lambda: scan("SELECT story_id, viewer_id, viewed_at FROM story_viewers")
    )
    viewers: dict[str, dict[str, int]] = {}
    for row in receipts:
        story = live.get(row.story_id)  # type: ignore[attr-defined]
        if story is None:
            continue
        viewed_ms = int(row.viewed_at.replace(tzinfo=UTC).timestamp() * 1000)  # type: ignore[attr-defined]
        viewers.setdefault(row.story_id, {})[row.viewer_id] = viewed_ms  # type: ignore[attr-defined]
        await write_seen(conn, viewer_id=row.viewer_id, story_id=row.story_id, author_id=story[0])  # type: ignore[attr-defined]
    await write_receipts(conn, viewers, {s: len(v) for s, v in viewers.items()})
    close = await loop.run_in_executor(
        None, lambda: scan("SELECT user_id, friend_id FROM close_friends")
    )
    for row in close:
        await write_close_friend_of(
            conn,
            author_id=row.user_id,
            friend_id=row.friend_id,
            present=True,  # type: ignore[attr-defined]
        )
    return len(live)
