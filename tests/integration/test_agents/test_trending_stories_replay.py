"""Hashtag and story-view counts stay exact through replayed batches: duplicates and kill -9.

A worker in a namespace of its own takes posts with hashtags (some deleted again, some
sent twice with the same event id) and story views (repeat views, re-sent duplicates,
owners watching their own story); it is killed twice mid-stream, so batches it had
applied (and partly written) are replayed by the next start. Every (tag, user) member
in Redis, every tag page row in Cassandra, the trending list and every story's view
count must equal what is computed here from the produced events.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from settings import Settings
from tests.factories import event_dict
from tests.support import Worker, wait_until

POSTS = 3_000
USERS = 300
TAGS = 40
VIEWS = 30_000
STORIES = 200
VIEWERS = 500
DUPLICATE_RATE = 0.05
# Every event carries its own time, so a duplicate is the same bytes (id and time).
START = datetime.now(UTC) - timedelta(minutes=30)


def _at(i: int) -> str:
    return (START + timedelta(milliseconds=i)).isoformat()


def _posts(
    rng: random.Random,
) -> tuple[list[dict[str, object]], dict[str, set[str]], set[tuple[str, str]]]:
    """Post events (duplicates and deletions included), each tag's users with a live
    post, and the live (tag, post) pairs."""
    created: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    live: dict[tuple[str, str], set[str]] = defaultdict(set)  # (tag, user) -> posts
    pages: set[tuple[str, str]] = set()
    for i in range(POSTS):
        if created and rng.random() < DUPLICATE_RATE:
            events.append(rng.choice(created))  # the same event id, sent again
        user = f"u{rng.randrange(USERS)}"
        tags = sorted({f"t{rng.randrange(TAGS)}" for _ in range(rng.randint(1, 3))})
        post = event_dict(
            "post_created",
            user_id=user,
            post_id=f"p{i}",
            caption=" ".join(f"#{t}" for t in tags) + " and #T0",
            media=[],
            event_id=f"created-{i}",
            occurred_at=_at(2 * i),
        )
        created.append(post)
        events.append(post)
        for tag in {*tags, "t0"}:
            live[(tag, user)].add(f"p{i}")
            pages.add((tag, f"p{i}"))
        if rng.random() < 0.1:  # deleted again, after its creation in its author's order
            events.append(
                event_dict(
                    "post_deleted",
                    user_id=user,
                    post_id=f"p{i}",
                    event_id=f"gone-{i}",
                    occurred_at=_at(2 * i + 1),
                )
            )
            for tag in {*tags, "t0"}:
                live[(tag, user)].discard(f"p{i}")
                pages.discard((tag, f"p{i}"))
    users: dict[str, set[str]] = defaultdict(set)
    for (tag, user), posts in live.items():
        if posts:
            users[tag].add(user)
    return events, users, pages


def _views(rng: random.Random) -> tuple[list[dict[str, object]], dict[str, int]]:
    """View events (duplicates, repeats, owners' own views) and each story's distinct viewers."""
    events: list[dict[str, object]] = []
    viewers: dict[str, set[str]] = {f"s{i}": set() for i in range(STORIES)}
    while len(events) < VIEWS:
        if events and rng.random() < DUPLICATE_RATE:
            events.append(rng.choice(events))
            continue
        story = rng.randrange(STORIES)
        owner = f"author{story % 20}"
        viewer = owner if rng.random() < 0.02 else f"v{rng.randrange(VIEWERS)}"
        events.append(
            event_dict(
                "story_viewed",
                user_id=viewer,
                story_id=f"s{story}",
                owner_id=owner,
                event_id=f"view-{len(events)}",
                occurred_at=_at(len(events)),
            )
        )
        if viewer != owner:
            viewers[f"s{story}"].add(viewer)
    return events, {s: len(v) for s, v in viewers.items()}


def _produce(settings: Settings, events: list[dict[str, object]]) -> None:
    from clients.kafka import EventProducer

    producer = EventProducer(settings)
    for data in events:
        producer.send(producer.prepare(data))
    assert producer.flush(60) == 0
    producer.close()


async def _redis_view(
    settings: Settings, tags: list[str], stories: list[str]
) -> tuple[dict[str, set[str]], dict[str, int], dict[str, int]]:
    from clients.redis import connect
    from schemas.redis_keys import RedisKeys

    redis, keys = connect(settings), RedisKeys(settings.namespace)
    async with redis.pipeline(transaction=False) as pipe:
        for tag in tags:
            pipe.zrange(keys.hashtag_users(tag), 0, -1)
        for story in stories:
            pipe.get(keys.story_views(story))
        pipe.zrange(keys.trending("7d"), 0, -1, withscores=True)
        flat = await pipe.execute()
    await redis.aclose()
    users = {tag: set(flat[i]) for i, tag in enumerate(tags)}
    counts = {s: int(flat[len(tags) + i] or 0) for i, s in enumerate(stories)}
    trending = {tag: int(score) for tag, score in flat[-1]}
    return users, counts, trending


def test_hashtag_and_view_counts_stay_exact_through_duplicates_and_two_kill_9s(
    namespace_factory: Callable[[str], Settings], tmp_path: Path
) -> None:
    from clients import cassandra as cassandra_client

    ns = namespace_factory("replay")
    env = {
        "PHOTOSTREAM_NAMESPACE": ns.namespace,
        "PHOTOSTREAM_COUNTER_FLUSH_INTERVAL_S": "0.5",
        "PHOTOSTREAM_TRENDING_FLUSH_INTERVAL_S": "0.5",
    }
    rng = random.Random(8)
    posts, tag_users, pages = _posts(rng)
    views, view_counts = _views(rng)
    assert sum(len(u) for u in tag_users.values()) > 1_000  # a meaningful amount of state
    tags, stories = sorted(tag_users), sorted(view_counts)
    # Interleaved, in thirds, so each kill lands in the middle of both streams.
    third_p, third_v = len(posts) // 3, len(views) // 3
    parts = [
        posts[i * third_p : (i + 1) * third_p if i < 2 else None]
        + views[i * third_v : (i + 1) * third_v if i < 2 else None]
        for i in range(3)
    ]

    worker = Worker(env=env, log_file=tmp_path / "worker.log").start_and_wait()
    try:
        _produce(ns, parts[0])

        def some_counted() -> bool:
            users, counts, _ = asyncio.run(_redis_view(ns, tags, stories))
            return sum(map(len, users.values())) > 200 and sum(counts.values()) > 1_000

        wait_until(some_counted, timeout_s=90, interval_s=0.5, what="part of the first third")
        worker.kill()
        _produce(ns, parts[1])
        worker.start_and_wait()
        time.sleep(2)  # mid-way through the second third
        worker.kill()
        _produce(ns, parts[2])
        worker.start_and_wait()

        def exact() -> bool:
            users, counts, trending = asyncio.run(_redis_view(ns, tags, stories))
            want = {tag: len(u) for tag, u in tag_users.items()}
            return users == tag_users and counts == view_counts and trending == want

        with contextlib.suppress(AssertionError):  # the differences are asserted below
            wait_until(exact, timeout_s=180, interval_s=2, what="Redis to converge on the truth")
        time.sleep(1.5)  # a few more flushes and recounts: nothing may move past the truth
        users, counts, trending = asyncio.run(_redis_view(ns, tags, stories))
        assert {t: (users[t] ^ tag_users[t]) for t in tags if users[t] != tag_users[t]} == {}
        assert {
            s: (counts[s], view_counts[s]) for s in stories if counts[s] != view_counts[s]
        } == {}
        assert trending == {tag: len(u) for tag, u in tag_users.items()}

        session = cassandra_client.connect(ns, keyspace=ns.cassandra_keyspace)
        try:

            def durable() -> tuple[set[tuple[str, str]], dict[str, int], dict[str, int]]:
                rows = session.execute("SELECT tag, post_id FROM posts_by_hashtag", timeout=60)
                stats = session.execute("SELECT story_id, views FROM story_stats", timeout=60)
                views = {row.story_id: int(row.views or 0) for row in stats}
                receipts = session.execute("SELECT story_id FROM story_viewers", timeout=60)
                listed: dict[str, int] = defaultdict(int)
                for row in receipts:
                    listed[row.story_id] += 1
                return (
                    {(r.tag, r.post_id) for r in rows},
                    {s: views.get(s, 0) for s in stories},
                    {s: listed.get(s, 0) for s in stories},
                )

            # The receipts' rows land after their Redis projection: wait for the last flush.
            wait_until(
                lambda: durable() == (pages, view_counts, view_counts),
                timeout_s=60,
                interval_s=1,
                what="Cassandra to hold the same",
            )
        finally:
            stored, stored_views, stored_viewers = durable()
            cassandra_client.close(session)
        assert stored == pages
        assert stored_views == view_counts
        assert stored_viewers == view_counts  # one receipt row per distinct viewer
        # Both crashes really happened mid-stream: each start recovered changelog records.
        assert worker.log().count("serving: recovered") >= 3
    finally:
        worker.stop()
