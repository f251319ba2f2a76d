"""Exact counts through crashes: 200,000 likes and unlikes, duplicates, two kill -9s.

The worker runs in its own namespace so killing it disturbs no other test. Every
post's like count in the API, Redis and Cassandra, and every post's likers set, must
equal what is computed here independently from the produced events (each event id
applied once, the newest event per user and post wins).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from settings import Settings
from tests.support import Api, Worker, wait_until

EVENTS = 200_000
POSTS = 2_000
USERS = 400
DUPLICATE_RATE = 0.05


def _workload(seed: int) -> tuple[list[dict[str, object]], dict[str, set[str]]]:
    """The events to produce (duplicates included) and the expected likers per post."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    distinct: list[dict[str, object]] = []
    produced: list[dict[str, object]] = []
    while len(produced) < EVENTS:
        if distinct and rng.random() < DUPLICATE_RATE:
            produced.append(rng.choice(distinct))  # the same event id, sent again
            continue
        i = len(distinct)
        event = {
            "type": "like" if rng.random() < 0.7 else "unlike",
            "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "occurred_at": (start + timedelta(milliseconds=i)).isoformat(),
            "user_id": f"u{rng.randrange(USERS)}",
            "post_id": f"p{rng.randrange(POSTS)}",
        }
        distinct.append(event)
        produced.append(event)
    # Independently: the newest event per (post, user) decides; ties cannot occur here.
    newest: dict[tuple[str, str], dict[str, object]] = {}
    for event in distinct:
        key = (str(event["post_id"]), str(event["user_id"]))
        if key not in newest or str(event["occurred_at"]) > str(newest[key]["occurred_at"]):
            newest[key] = event
    likers: dict[str, set[str]] = {f"p{i}": set() for i in range(POSTS)}
    for (post_id, user_id), event in newest.items():
        if event["type"] == "like":
            likers[post_id].add(user_id)
    return produced, likers


def _produce(settings: Settings, events: list[dict[str, object]]) -> None:
    from clients.kafka import EventProducer

    producer = EventProducer(settings)
    for data in events:
        producer.send(producer.prepare(data))
    assert producer.flush(60) == 0
    producer.close()


async def _redis_view(settings: Settings) -> tuple[dict[str, int], dict[str, set[str]]]:
    from clients.redis import connect
    from schemas.redis_hashes import PostCounts
    from schemas.redis_keys import RedisKeys

    redis, keys = connect(settings), RedisKeys(settings.namespace)
    posts = [f"p{i}" for i in range(POSTS)]
    async with redis.pipeline(transaction=False) as pipe:
        for post_id in posts:
            pipe.get(keys.post_stats(post_id))
            pipe.smembers(keys.post_likers(post_id))
        flat = await pipe.execute()
    await redis.aclose()
    counts = {p: PostCounts.from_value(flat[2 * i]).likes for i, p in enumerate(posts)}
    likers = {p: set(flat[2 * i + 1]) for i, p in enumerate(posts)}
    return counts, likers


def test_counts_stay_exact_through_duplicates_and_two_kill_9s(
    namespace_factory: Callable[[str], Settings], tmp_path: Path
) -> None:
    from clients import cassandra as cassandra_client
    from tests.factories import event_dict

    crash_ns = namespace_factory("crash")

    env = {
        "PHOTOSTREAM_NAMESPACE": crash_ns.namespace,
        "PHOTOSTREAM_COUNTER_FLUSH_INTERVAL_S": "0.5",
        # One checker reads every post's stats at once: far past a person's read limit.
        "PHOTOSTREAM_RATE_READS_PER_MIN": "1000000",
    }
    events, likers = _workload(seed=4)
    expected = {post_id: len(users) for post_id, users in likers.items()}
    assert sum(expected.values()) > 10_000  # a meaningful amount of state
    posts = [
        event_dict("post_created", user_id=f"author{i % 50}", post_id=f"p{i}", media=[])
        for i in range(POSTS)
    ]
    _produce(crash_ns, posts)

    worker = Worker(env=env, log_file=tmp_path / "worker.log").start_and_wait()
    third = len(events) // 3
    try:
        _produce(crash_ns, events[:third])
        # Kill while the backlog is being worked through: a good part is counted.
        wait_until(
            lambda: sum(asyncio.run(_redis_view(crash_ns))[0].values()) > 2_000,
            timeout_s=60,
            what="a good part of the first third counted",
        )
        worker.kill()
        _produce(crash_ns, events[third : 2 * third])
        worker.start_and_wait()
        time.sleep(3)  # mid-way through the second third
        worker.kill()
        _produce(crash_ns, events[2 * third :])
        worker.start_and_wait()

        def redis_matches() -> bool:
            counts, _ = asyncio.run(_redis_view(crash_ns))
            return counts == expected

        wait_until(redis_matches, timeout_s=240, interval_s=2, what="Redis counts to converge")
        time.sleep(1.5)  # a few more flush intervals: nothing may move past the truth
        counts, redis_likers = asyncio.run(_redis_view(crash_ns))
        assert counts == expected
        assert redis_likers == likers

        session = cassandra_client.connect(crash_ns, keyspace=crash_ns.cassandra_keyspace)
        rows = session.execute("SELECT post_id, likes FROM post_stats", timeout=60)
        cassandra = {row.post_id: int(row.likes or 0) for row in rows}
        cassandra_client.close(session)
        assert {p: cassandra.get(p, 0) for p in expected} == expected

        api = Api(env=env, log_file=tmp_path / "api.log").start_and_wait()
        try:
            from api.auth import issue_token, load_secret

            token = issue_token("checker", secret=load_secret(crash_ns), ttl_s=600)
            with httpx.Client(
                base_url=api.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
            ) as client:
                from_api = {}
                for post_id in expected:
                    response = client.get(f"/v1/posts/{post_id}/stats")
                    assert response.status_code == 200, response.text
                    from_api[post_id] = response.json()["likes"]
            assert from_api == expected
        finally:
            api.stop()
        # Two crashes really happened mid-stream and the worker recovered each time.
        assert worker.log().count("recounted") >= 3
    finally:
        worker.stop()
