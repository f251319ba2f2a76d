"""Stories stored, removed and fanned out a batch at a time on real Cassandra and Redis:
in event order, replayable, trays exact."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.stories import LiveStory, expires_at_ms
from schemas.events import StoryCreated, make_event
from sinks.connections import Connections
from sinks.stories import StoryRemoval, StoryWrite, write_stories
from sinks.story_trays import TrayPush, TrayRescore, write_trays
from tests.factories import unique


@pytest.fixture
async def conn(namespace: str, settings: Any) -> AsyncIterator[Connections]:
    c = Connections(settings)
    yield c
    await c.close()


def created(author: str, minutes_ago: float, *, close: bool = False) -> StoryCreated:
    event = make_event(
        "story_created",
        user_id=author,
        story_id=unique("s"),
        media_id=unique("m"),
        close_friends_only=close,
        occurred_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
    )
    assert isinstance(event, StoryCreated)
    return event


def story(event: StoryCreated) -> LiveStory:
    return LiveStory(event.story_id, event.occurred_ms, event.close_friends_only)


async def tray(conn: Connections, viewer: str) -> dict[str, float]:
    return dict(await conn.redis().zrange(conn.keys.story_tray(viewer), 0, -1, withscores=True))


async def test_story_batch_stored_pushed_removed_rescored_and_replayed(
    conn: Connections,
) -> None:
    author, friend, fan = unique("a"), unique("v"), unique("v")
    old, close, new = created(author, 30), created(author, 20, close=True), created(author, 10)
    now = int(time.time() * 1000)
    gone = StoryRemoval(author, story(new), int(time.time() * 1_000_000))
    changes: list[Any] = [StoryWrite(old), StoryWrite(close), StoryWrite(new), gone]
    pushes: list[Any] = [
        TrayPush(author, old.occurred_ms, [friend, fan]),
        TrayPush(author, close.occurred_ms, [friend]),
        TrayPush(author, new.occurred_ms, [friend, fan]),
        # After the removal: the close friend sees the close-friends story, the fan the old.
        TrayRescore(author, {friend: close.occurred_ms, fan: old.occurred_ms}),
    ]
    for _ in range(2):  # the batch, then its replay after a crash
        await write_stories(conn, changes, now)
        assert await write_trays(conn, pushes) == 7  # 5 pushes, 2 rescores
        redis, k = conn.redis(), conn.keys
        assert await tray(conn, friend) == {author: close.occurred_ms}
        assert await tray(conn, fan) == {author: old.occurred_ms}
        assert await redis.zrange(k.author_stories(author), 0, -1) == [
            old.story_id,
            close.story_id,
        ]
        assert await redis.zrange(k.author_open_stories(author), 0, -1) == [old.story_id]
        assert not await redis.exists(k.story(new.story_id))
        card = await redis.hgetall(k.story(close.story_id))
        assert card["close_friends_only"] == "1" and card["author_id"] == author
        assert await redis.pexpiretime(k.story(close.story_id)) == expires_at_ms(close.occurred_ms)
        # The tray expires with its newest story (the new one, though removed since).
        assert await redis.pexpiretime(k.story_tray(fan)) == expires_at_ms(new.occurred_ms)
        rows = await conn.execute("SELECT story_id FROM stories WHERE author_id = ?", (author,))
        assert sorted(r.story_id for r in rows) == sorted([old.story_id, close.story_id])


async def test_story_rescore_leaves_trays_without_the_author_alone(conn: Connections) -> None:
    author, viewer, stranger = unique("a"), unique("v"), unique("v")
    s = created(author, 5)
    await write_trays(conn, [TrayPush(author, s.occurred_ms, [viewer])])
    await write_trays(conn, [TrayRescore(author, {viewer: None, stranger: s.occurred_ms})])
    assert await tray(conn, viewer) == {}
    assert await tray(conn, stranger) == {}  # XX: no entry is created by a rescore


async def test_story_push_to_many_trays_in_chunks(conn: Connections) -> None:
    author = unique("a")
    viewers = [unique("v") for _ in range(2_500)]  # three script calls
    s = created(author, 1)
    assert await write_trays(conn, [TrayPush(author, s.occurred_ms, viewers)]) == 2_500
    async with conn.redis().pipeline(transaction=False) as pipe:
        for v in viewers:
            pipe.zscore(conn.keys.story_tray(v), author)
        scores = await pipe.execute()
    assert scores == [s.occurred_ms] * 2_500


async def test_story_push_never_lowers_a_newer_entry(conn: Connections) -> None:
    author, viewer = unique("a"), unique("v")
    older, newer = created(author, 20), created(author, 10)
    await write_trays(conn, [TrayPush(author, newer.occurred_ms, [viewer])])
    await write_trays(conn, [TrayPush(author, older.occurred_ms, [viewer])])  # late replay
    assert await tray(conn, viewer) == {author: newer.occurred_ms}
