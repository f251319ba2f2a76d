"""Story trays stay exact through replayed batches: deletions, duplicates and kill -9.

A worker in a namespace of its own takes the story events of many authors (some
close-friends-only, some deleted again after their creation, some sent twice with the
same event id); it is killed twice mid-stream, so batches it had applied (and partly
written) are replayed by the next start. Every follower's tray entry for every author
must be the newest story of that author the follower may see (none: no entry), every
author's story lists and cards must hold exactly the stories left, and so must the
Cassandra rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from settings import Settings
from tests.factories import event_dict
from tests.support import Worker, wait_until

AUTHORS = 40
USERS = 300
FOLLOWERS_EACH = 30
STORIES_EACH = 50
CLOSE_SHARE = 0.2
DELETE_SHARE = 0.3
DUPLICATE_RATE = 0.05
START = datetime.now(UTC) - timedelta(hours=2)


def _at(i: int) -> datetime:
    return START + timedelta(milliseconds=10 * i)


def _world(rng: random.Random) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """Each author's followers, and their close friends (some of the followers)."""
    followers, close = {}, {}
    for a in range(AUTHORS):
        author = f"author{a}"
        followers[author] = [f"u{i}" for i in rng.sample(range(USERS), FOLLOWERS_EACH)]
        close[author] = {f for f in followers[author] if rng.random() < 0.3}
    return followers, close


def _stories(
    rng: random.Random,
) -> tuple[list[dict[str, object]], dict[str, dict[str, tuple[int, bool]]]]:
    """Story events in each author's order (duplicates and deletions included), and each
    author's stories left: story_id -> (created ms, close friends only)."""
    events: list[dict[str, object]] = []
    left: dict[str, dict[str, tuple[int, bool]]] = {f"author{a}": {} for a in range(AUTHORS)}
    open_stories: list[tuple[str, str]] = []
    for i in range(AUTHORS * STORIES_EACH):
        author, close = f"author{rng.randrange(AUTHORS)}", rng.random() < CLOSE_SHARE
        at = _at(i)
        created = event_dict(
            "story_created",
            user_id=author,
            story_id=f"s{i}",
            media_id=f"m{i}",
            close_friends_only=close,
            event_id=f"created-{i}",
            occurred_at=at.isoformat(),
        )
        # Sent again (the same event id) before anything deletes it.
        events.extend([created] * (2 if rng.random() < DUPLICATE_RATE else 1))
        left[author][f"s{i}"] = (int(at.timestamp() * 1000), close)
        open_stories.append((author, f"s{i}"))
        if rng.random() < DELETE_SHARE:  # a story of the past deleted, after its creation
            gone_author, gone = open_stories.pop(rng.randrange(len(open_stories)))
            deleted = event_dict(
                "story_deleted",
                user_id=gone_author,
                story_id=gone,
                event_id=f"gone-{gone}",
                occurred_at=_at(i).isoformat(),
            )
            events.extend([deleted] * (2 if rng.random() < DUPLICATE_RATE else 1))
            left[gone_author].pop(gone)
    return events, left


def _want_trays(
    followers: dict[str, list[str]],
    close: dict[str, set[str]],
    left: dict[str, dict[str, tuple[int, bool]]],
) -> dict[str, dict[str, float]]:
    trays: dict[str, dict[str, float]] = {f"u{i}": {} for i in range(USERS)}
    for author, stories in left.items():
        for follower in followers[author]:
            visible = [ms for ms, cf in stories.values() if not cf or follower in close[author]]
            if visible:
                trays[follower][author] = float(max(visible))
    return trays


async def _seed(
    settings: Settings, followers: dict[str, list[str]], close: dict[str, set[str]]
) -> None:
    from clients.redis import connect
    from schemas.redis_keys import RedisKeys

    redis, keys = connect(settings), RedisKeys(settings.namespace)
    async with redis.pipeline(transaction=False) as pipe:
        for author, users in followers.items():
            pipe.sadd(keys.followers(author), *users)
            if close[author]:
                pipe.sadd(keys.close_friends(author), *close[author])
        await pipe.execute()
    await redis.aclose()


async def _redis_view(
    settings: Settings, authors: list[str]
) -> tuple[dict[str, dict[str, float]], dict[str, list[str]], int]:
    """Every tray, every author's story list, and how many story cards exist."""
    from clients.redis import connect
    from schemas.redis_keys import RedisKeys

    redis, keys = connect(settings), RedisKeys(settings.namespace)
    users = [f"u{i}" for i in range(USERS)]
    async with redis.pipeline(transaction=False) as pipe:
        for user in users:
            pipe.zrange(keys.story_tray(user), 0, -1, withscores=True)
        for author in authors:
            pipe.zrange(keys.author_stories(author), 0, -1)
        flat = await pipe.execute()
    cards = 0
    async for _ in redis.scan_iter(match=keys.story("*"), count=1000):
        cards += 1
    await redis.aclose()
    trays = {u: dict(flat[i]) for i, u in enumerate(users)}
    lists = {a: sorted(flat[len(users) + i]) for i, a in enumerate(authors)}
    return trays, lists, cards


def _produce(settings: Settings, events: list[dict[str, object]]) -> None:
    from clients.kafka import EventProducer

    producer = EventProducer(settings)
    for data in events:
        producer.send(producer.prepare(data))
    assert producer.flush(60) == 0
    producer.close()


def test_story_trays_stay_exact_through_deletions_duplicates_and_two_kill_9s(
    namespace_factory: Callable[[str], Settings], tmp_path: Path
) -> None:
    from clients import cassandra as cassandra_client

    ns = namespace_factory("fanout")
    rng = random.Random(13)
    followers, close = _world(rng)
    events, left = _stories(rng)
    want = _want_trays(followers, close, left)
    authors = sorted(left)
    want_lists = {a: sorted(stories) for a, stories in left.items()}
    live = sum(len(s) for s in left.values())
    assert sum(len(t) for t in want.values()) > 1_000  # a meaningful amount of state
    asyncio.run(_seed(ns, followers, close))
    third = len(events) // 3
    parts = [events[:third], events[third : 2 * third], events[2 * third :]]

    worker = Worker(env={"PHOTOSTREAM_NAMESPACE": ns.namespace}, log_file=tmp_path / "w.log")
    worker.start_and_wait()
    try:
        _produce(ns, parts[0])

        def some_pushed() -> bool:
            trays, _, _ = asyncio.run(_redis_view(ns, authors))
            return sum(map(len, trays.values())) > 300

        wait_until(some_pushed, timeout_s=90, interval_s=0.2, what="part of the first third")
        worker.kill()
        _produce(ns, parts[1])
        worker.start_and_wait()
        time.sleep(1)  # mid-way through the second third
        worker.kill()
        _produce(ns, parts[2])
        worker.start_and_wait()

        def exact() -> bool:
            trays, lists, cards = asyncio.run(_redis_view(ns, authors))
            return trays == want and lists == want_lists and cards == live

        with contextlib.suppress(AssertionError):  # the differences are asserted below
            wait_until(exact, timeout_s=180, interval_s=1, what="Redis to converge on the truth")
        trays, lists, cards = asyncio.run(_redis_view(ns, authors))
        assert {u: (trays[u], want[u]) for u in want if trays[u] != want[u]} == {}
        assert {a: lists[a] for a in authors if lists[a] != want_lists[a]} == {}
        assert cards == live

        session = cassandra_client.connect(ns, keyspace=ns.cassandra_keyspace)
        try:
            rows = session.execute("SELECT author_id, story_id FROM stories", timeout=60)
            stored: dict[str, list[str]] = {a: [] for a in authors}
            for row in rows:
                stored[row.author_id].append(row.story_id)
        finally:
            cassandra_client.close(session)
        assert {a: sorted(s) for a, s in stored.items()} == want_lists
        # Both crashes really happened mid-stream: each start recovered changelog records.
        assert worker.log().count("serving: recovered") >= 3
    finally:
        worker.stop()
