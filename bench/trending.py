"""``photostream bench trending``: hashtag throughput of one worker and post-to-trending time.

Against the real services, in a throw-away namespace:

1. ``--posts`` posts (1-3 tags each from a Zipf-skewed vocabulary, some deleted again)
   are produced before the worker starts. One worker drains the backlog end to end
   (posts re-keyed by tag, then counted): posts/s and hashtag events/s from "worker
   ready" until the consumer group has committed every offset of both topics.
2. ``--hashtag-events`` re-keyed copies (as ``route_hashtags`` writes them, some of
   them deletions) are produced straight onto the hashtags topic, pre-serialised, and
   the steady rate of the worker's committed offsets on that topic (10 % to 90 %) is
   the counter's events/s; it stands beside two ceilings of the same backlog in the
   same run: a do-nothing Faust agent iterating the topic (``bench.faust_iteration``)
   and a raw confluent-kafka consumer.
3. The trending lists are checked against the exact counts computed from both
   workloads.
4. ``--probes`` single posts with a fresh tag: time until the tag is in the 1 h
   trending list, beside a raw Kafka produce-to-consume round trip and the recount
   interval.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import defaultdict

import click
import orjson
from confluent_kafka import Consumer, TopicPartition

from bench.engagement import CommitWatch, steady_rate
from bench.faust_iteration import faust_iteration_rate
from bench.harness import BenchNamespace, percentile, raw_consume_rate
from domain.trending import count_in_window, parse_hashtags
from schemas.events import make_event
from schemas.topics import HASHTAGS, POSTS
from settings import Settings


def _workload(posts: int, users: int, tags: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    vocabulary = [f"tag{i}" for i in range(tags)]
    weights = [1 / (i + 1) ** 1.1 for i in range(tags)]
    out: list[dict[str, object]] = []
    for i in range(posts):
        chosen = {rng.choices(vocabulary, weights)[0] for _ in range(rng.randint(1, 3))}
        caption = "nice day " + " ".join(f"#{t}" for t in chosen)
        out.append({"user_id": f"u{rng.randrange(users)}", "post_id": f"p{i}", "caption": caption})
    return out


def _copies(
    events: int, users: int, tags: int, seed: int, delete_share: float
) -> tuple[list[tuple[bytes, bytes]], dict[str, set[str]]]:
    """About ``events`` hashtag messages (key, value) as the re-key writes them, and
    each tag's users with a live use left."""
    rng = random.Random(seed)
    vocabulary = [f"tag{i}" for i in range(tags)]
    weights = [1 / (i + 1) ** 1.1 for i in range(tags)]
    out: list[tuple[bytes, bytes]] = []
    live: dict[tuple[str, str], set[str]] = defaultdict(set)  # (tag, user) -> posts
    i = 0
    while len(out) < events:
        user = f"v{rng.randrange(users)}"
        post = make_event("post_created", user_id=user, post_id=f"b{i}", caption="", media=[])
        body = post.model_dump(mode="json")
        chosen = sorted({rng.choices(vocabulary, weights)[0] for _ in range(rng.randint(1, 3))})
        extra = {"author_id": user, "created_ms": post.occurred_ms}
        for tag in chosen:
            out.append((tag.encode(), orjson.dumps({**body, **extra, "tag": tag})))
            live[(tag, user)].add(post.post_id)  # type: ignore[attr-defined]
        if rng.random() < delete_share:
            gone = make_event("post_deleted", user_id=user, post_id=f"b{i}")
            gone_body = gone.model_dump(mode="json")
            for tag in chosen:
                out.append((tag.encode(), orjson.dumps({**gone_body, **extra, "tag": tag})))
                live[(tag, user)].discard(f"b{i}")
        i += 1
    users_by_tag: dict[str, set[str]] = defaultdict(set)
    for (tag, user), posts in live.items():
        if posts:
            users_by_tag[tag].add(user)
    return out, users_by_tag


def _consumer(settings: Settings, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )


def _lag(settings: Settings, topics: list[str]) -> tuple[int, int]:
    """(uncommitted messages of the worker's group, total messages) over ``topics``."""
    consumer = _consumer(settings, settings.namespace)
    try:
        metadata = consumer.list_topics(timeout=10)
        tps = [TopicPartition(t, p) for t in topics for p in metadata.topics[t].partitions]
        committed = consumer.committed(tps, timeout=10)
        lag = total = 0
        for tp in committed:
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            total += high
            lag += high - max(tp.offset, 0)
        return lag, total
    finally:
        consumer.close()


def _kafka_round_trip_ms(settings: Settings, producer: object, topic: str) -> float:
    consumer = _consumer(settings, f"{settings.namespace}-rt-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([topic])
    consumer.consume(1, 5.0)  # join the group and get an assignment first
    event = make_event("post_created", user_id="rt", post_id="rt", caption="", media=[])
    start = time.perf_counter()
    producer.send(event)  # type: ignore[attr-defined]
    producer.flush()  # type: ignore[attr-defined]
    while True:
        msg = consumer.poll(0.01)
        if msg is not None and msg.error() is None and event.event_id.encode() in msg.value():
            consumer.close()
            return (time.perf_counter() - start) * 1000


@click.command()
@click.option("--posts", default=5000, show_default=True, help="Posts in the backlog.")
@click.option("--users", default=2000, show_default=True)
@click.option("--tags", default=300, show_default=True, help="Size of the tag vocabulary.")
@click.option("--delete-share", default=0.05, show_default=True, help="Posts deleted again.")
@click.option(
    "--hashtag-events",
    default=60_000,
    show_default=True,
    help="Re-keyed copies produced straight onto the hashtags topic (the counter's run).",
)
@click.option("--probes", default=20, show_default=True, help="Post-to-trending samples.")
def trending(
    posts: int, users: int, tags: int, delete_share: float, hashtag_events: int, probes: int
) -> None:
    """Hashtag events/s of one worker vs raw consume; post-to-trending latency."""
    from clients.kafka import EventProducer
    from clients.redis import connect
    from schemas.redis_keys import RedisKeys

    rows = _workload(posts, users, tags, seed=7)
    rng = random.Random(11)
    deleted = {str(r["post_id"]) for r in rows if rng.random() < delete_share}
    with BenchNamespace() as ns:
        settings = ns.settings
        posts_topic, tags_topic = POSTS.name(ns.name), HASHTAGS.name(ns.name)
        producer = EventProducer(settings)
        for row in rows:
            producer.send(make_event("post_created", media=[], **row))
        for row in rows:
            if row["post_id"] in deleted:
                producer.send(
                    make_event("post_deleted", user_id=row["user_id"], post_id=row["post_id"])
                )
        producer.flush()
        messages = len(rows) + len(deleted)
        hashtag_messages = sum(
            len(parse_hashtags(str(r["caption"]))) * (2 if r["post_id"] in deleted else 1)
            for r in rows
        )
        click.echo(
            f"backlog: {len(rows)} posts ({len(deleted)} deleted again) -> "
            f"{hashtag_messages} hashtag events, {users} users, {tags} tags"
        )
        raw_posts = raw_consume_rate(settings, posts_topic, messages, batch=1000)

        ns.start_worker()
        started = time.perf_counter()
        rekeyed_s = None
        while True:
            lag, total = _lag(settings, [posts_topic, tags_topic])
            if rekeyed_s is None and total >= messages + hashtag_messages:
                rekeyed_s = time.perf_counter() - started  # every copy is on the log
            if lag == 0 and total >= messages + hashtag_messages:
                break
            time.sleep(0.2)
        drained_s = time.perf_counter() - started

        copies, copy_users = _copies(hashtag_events, users, tags, seed=13, delete_share=0.1)
        click.echo(f"counter run: {len(copies)} hashtag events straight onto the hashtags topic")
        watch = CommitWatch(settings, tags_topic)
        base = watch.committed()
        with watch:
            for key, value in copies:
                producer.send_raw(tags_topic, key, value)
            producer.flush(120)
            # The watch's own samples: its consumer is not shared across threads.
            while not watch.samples or watch.samples[-1][1] < base + len(copies):
                time.sleep(0.2)
        count_rate = steady_rate(watch.samples, base, len(copies))
        in_topic = hashtag_messages + len(copies)
        plain_tags = faust_iteration_rate(settings, tags_topic, in_topic)
        raw_tags = raw_consume_rate(settings, tags_topic, in_topic, batch=1000)
        plain_posts = faust_iteration_rate(settings, posts_topic, messages)

        # Exactness: the lists must equal the counts recomputed from both workloads.
        newest: dict[str, dict[str, int]] = defaultdict(dict)
        for r in rows:
            if r["post_id"] not in deleted:
                for tag in parse_hashtags(str(r["caption"])):
                    newest[tag][str(r["user_id"])] = 1
        for tag, tag_users in copy_users.items():
            for user in tag_users:
                newest[tag][user] = 1
        keys = RedisKeys(ns.name)

        async def read_lists() -> dict[str, dict[str, int]]:
            redis = connect(settings)
            out = {}
            for window in ("1h", "24h", "7d"):
                pairs = await redis.zrange(keys.trending(window), 0, -1, withscores=True)
                out[window] = {t: int(s) for t, s in pairs}
            await redis.aclose()
            return out

        now_ms = int(time.time() * 1000)
        expected = {
            t: count_in_window({u: now_ms for u in us}, "1h", now_ms) for t, us in newest.items()
        }
        deadline = time.monotonic() + 30
        lists = asyncio.run(read_lists())
        while lists["1h"] != expected and time.monotonic() < deadline:
            time.sleep(0.5)
            lists = asyncio.run(read_lists())
        exact = all(lists[w] == expected for w in lists)

        async def probe_latencies() -> list[float]:
            redis = connect(settings)
            out = []
            for i in range(probes):
                tag = f"probe{i}{uuid.uuid4().hex[:6]}"
                start = time.perf_counter()
                producer.send(
                    make_event(
                        "post_created",
                        user_id=f"prober{i}",
                        post_id=f"probe{i}",
                        caption=f"#{tag}",
                        media=[],
                    )
                )
                producer.flush()
                while await redis.zscore(keys.trending("1h"), tag) is None:
                    await asyncio.sleep(0.01)
                out.append((time.perf_counter() - start) * 1000)
            await redis.aclose()
            return out

        latencies = asyncio.run(probe_latencies())
        round_trips = [_kafka_round_trip_ms(settings, producer, posts_topic) for _ in range(5)]
        producer.close()

    rate = hashtag_messages / drained_s
    counted = count_rate or 0.0
    click.echo("")
    click.echo(f"{'figure':<44}{'value':>14}   reference (same run)")
    click.echo(
        f"{'hashtag events/s, one worker (counter run)':<44}{counted:>14,.0f}   "
        f"plain Faust iteration of the hashtags topic {plain_tags:,.0f}/s "
        f"(ratio {counted / plain_tags:.2f}); raw confluent-kafka consume {raw_tags:,.0f}/s"
    )
    click.echo(
        f"{'hashtag events/s end to end (posts backlog)':<44}{rate:>14,.0f}   "
        f"includes the re-key and every other agent on the posts topic"
    )
    click.echo(
        f"{'posts/s through the re-key (incl. deletes)':<44}{messages / drained_s:>14,.0f}   "
        f"plain Faust iteration of the posts topic {plain_posts:,.0f}/s; "
        f"raw consume {raw_posts:,.0f}/s"
    )
    click.echo(
        f"{'posts/s re-keyed (every copy on the log)':<44}{messages / (rekeyed_s or drained_s):>14,.0f}   "
        f"the re-key alone: the other agents on the posts topic may lag behind"
    )
    click.echo(f"{'backlog drained in':<44}{drained_s:>12.1f} s")
    click.echo(
        f"{'lists exact vs workload (1h/24h/7d)':<44}{'yes' if exact else 'NO':>14}   "
        f"{len(expected)} tags"
    )
    click.echo(
        f"{'post -> 1h trending list, p50':<44}{percentile(latencies, 50):>11.0f} ms   "
        f"Kafka produce->consume p50 {percentile(round_trips, 50):.0f} ms; "
        f"recount every {settings.trending_flush_interval_s * 1000:.0f} ms"
    )
    click.echo(f"{'post -> 1h trending list, p99':<44}{percentile(latencies, 99):>11.0f} ms")
