"""``photostream bench engagement``: exact like counts through one worker.

Figures, each beside its same-run reference:
- sustained likes/s through one worker: the steady rate at which the worker's
  committed offsets (advanced only once a batch is durable) move from 10 % to 90 % of
  the run, beside the rate a plain confluent-kafka consumer reads the same topic (the
  ceiling); the run then waits until every post's count is exact in Redis, and the
  rate up to that moment (the last flush included) is printed too;
- the same with one hot post taking half the load;
- Cassandra writes per like (the flushes' absolute writes / likes);
- freshness: a like produced -> its count visible in the API, p50/p99, beside the
  flush interval (the floor is flush interval + 1 s).
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import click
import httpx
from confluent_kafka import Consumer, TopicPartition

from bench.harness import BenchNamespace, percentile, raw_consume_rate
from schemas.topics import topic_for
from settings import Settings

_WRITES = re.compile(r"flushed counts of \d+ posts \((\d+) Cassandra writes\)")


def _likes(
    n: int, posts: list[str], users: int, rng: random.Random, *, hot: str | None, start: datetime
) -> tuple[list[dict[str, object]], dict[str, int]]:
    """``n`` like/unlike events (10 % unlikes) and the exact like count per post."""
    events: list[dict[str, object]] = []
    state: dict[tuple[str, str], bool] = {}
    for i in range(n):
        post_id = hot if hot is not None and rng.random() < 0.5 else rng.choice(posts)
        user_id = f"u{rng.randrange(users)}"
        like = rng.random() >= 0.1
        events.append(
            {
                "type": "like" if like else "unlike",
                "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                # One ms apart: the newest event per (post, user) wins, ties never happen.
                "occurred_at": (start + timedelta(milliseconds=i)).isoformat(),
                "user_id": user_id,
                "post_id": post_id,
            }
        )
        state[(post_id, user_id)] = like
    counts = dict.fromkeys([*posts, *([hot] if hot else [])], 0)
    for (post_id, _), liked in state.items():
        counts[post_id] += liked
    return events, counts


def _produce(producer: object, events: list[dict[str, object]]) -> None:
    _send_encoded(producer, _encode(producer, events))


def _encode(producer: object, events: list[dict[str, object]]) -> list[tuple[str, bytes, bytes]]:
    """Validate and serialise up front, so timing measures the worker, not this process."""
    out = []
    for data in events:
        event = producer.prepare(data)  # type: ignore[attr-defined]
        spec = topic_for(event)
        out.append((producer.topic_name(spec), spec.key_for(event).encode(), event.to_json()))  # type: ignore[attr-defined]
    return out


def _send_encoded(producer: object, messages: list[tuple[str, bytes, bytes]]) -> None:
    for topic, key, value in messages:
        producer.send_raw(topic, key, value)  # type: ignore[attr-defined]
    producer.flush(120)  # type: ignore[attr-defined]


async def _read_likes(settings: Settings, post_ids: list[str]) -> dict[str, int]:
    from clients.redis import connect
    from schemas.redis_hashes import PostCounts
    from schemas.redis_keys import RedisKeys

    redis, keys = connect(settings), RedisKeys(settings.namespace)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for post_id in post_ids:
                pipe.get(keys.post_stats(post_id))
            values = await pipe.execute()
    finally:
        await redis.aclose()
    return {p: PostCounts.from_value(v).likes for p, v in zip(post_ids, values, strict=True)}


def _wait_exact(settings: Settings, expected: dict[str, int], timeout_s: float) -> float | None:
    """Seconds until Redis holds exactly ``expected``; None on timeout."""
    start = time.perf_counter()
    ids = list(expected)
    while time.perf_counter() - start < timeout_s:
        if asyncio.run(_read_likes(settings, ids)) == expected:
            return time.perf_counter()
        time.sleep(0.1)
    return None


def _cassandra_writes(log_text: str) -> int:
    return sum(int(m) for m in _WRITES.findall(log_text))


def steady_rate(samples: list[tuple[float, int]], base: int, n: int) -> float | None:
    """Messages/s between the first samples at 10 % and at 90 % of ``n`` past ``base``.

    The ramp-up and the tail (the last commit, the last flush) stay out of the figure.
    """

    def first_at(fraction: float) -> tuple[float, int] | None:
        target = base + fraction * n
        return next(((t, c) for t, c in samples if c >= target), None)

    low, high = first_at(0.1), first_at(0.9)
    if low is None or high is None or high[0] <= low[0]:
        return None
    return (high[1] - low[1]) / (high[0] - low[0])


class CommitWatch:
    """Samples the sum of the worker's committed offsets on one topic, in a thread."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._consumer = Consumer(
            {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.namespace}
        )
        parts = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self._partitions = [TopicPartition(topic, p) for p in parts]
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def committed(self) -> int:
        offsets = self._consumer.committed(self._partitions, timeout=10)
        return sum(max(0, tp.offset) for tp in offsets)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self.committed()))
            time.sleep(0.1)

    def __enter__(self) -> CommitWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(15)
        self._consumer.close()


def _run(
    ns: BenchNamespace,
    producer: object,
    worker_log: object,
    events: list[dict[str, object]],
    expected: dict[str, int],
) -> tuple[float, float, float, bool]:
    """(steady likes/s, likes/s until exact, Cassandra writes per like, exact)."""
    from schemas.topics import ENGAGEMENT

    before = _cassandra_writes(worker_log.read_text())  # type: ignore[attr-defined]
    messages = _encode(producer, events)
    watch = CommitWatch(ns.settings, ENGAGEMENT.name(ns.name))
    base = watch.committed()
    start = time.perf_counter()
    with watch:
        _send_encoded(producer, messages)
        done = _wait_exact(ns.settings, expected, timeout_s=600)
        time.sleep(1.5)  # the last commit (every second) lands
    elapsed = (done or time.perf_counter()) - start
    until_exact = len(events) / elapsed
    steady = steady_rate(watch.samples, base, len(events)) or until_exact
    time.sleep(ns.settings.counter_flush_interval_s * 3)  # let the last flush be logged
    writes = _cassandra_writes(worker_log.read_text()) - before  # type: ignore[attr-defined]
    return steady, until_exact, writes / len(events), done is not None


@click.command()
@click.option("--likes", default=500_000, show_default=True, help="Like events per run.")
@click.option("--posts", default=5_000, show_default=True)
@click.option("--users", default=20_000, show_default=True)
@click.option("--probes", default=60, show_default=True, help="Freshness samples.")
@click.option("--probe-load", default=2_000, show_default=True, help="Background likes/s.")
@click.option(
    "--flush-interval-s",
    default=2.0,
    show_default=True,
    help="Counter flush interval of the worker (the product default is 2 s).",
)
def engagement(
    likes: int, posts: int, users: int, probes: int, probe_load: int, flush_interval_s: float
) -> None:
    """Exact like counts through one worker: likes/s, hot post, writes/like, freshness."""
    from clients.kafka import EventProducer
    from schemas.topics import ENGAGEMENT

    rng = random.Random(11)
    with BenchNamespace("benche") as ns:
        ns.env["PHOTOSTREAM_COUNTER_FLUSH_INTERVAL_S"] = str(flush_interval_s)
        ns.settings = ns.settings.model_copy(update={"counter_flush_interval_s": flush_interval_s})
        producer = EventProducer(ns.settings)
        uniform = [f"a{i}" for i in range(posts)]
        spread = [f"b{i}" for i in range(posts)]
        fresh = [f"c{i}" for i in range(probes)]
        sentinel = "sentinel"
        _produce(
            producer,
            [
                {
                    "type": "post_created",
                    "user_id": f"author{i % 100}",
                    "post_id": p,
                    "caption": "",
                    "media": [],
                }
                for i, p in enumerate([*uniform, *spread, "hot", *fresh, sentinel])
            ],
        )
        click.echo(f"namespace {ns.name}; starting one worker (logs in {ns.logs})")
        worker = ns.start_worker()
        _produce(producer, [{"type": "like", "user_id": "u0", "post_id": sentinel}])
        if _wait_exact(ns.settings, {sentinel: 1}, timeout_s=120) is None:
            raise click.ClickException("the worker never counted the sentinel like")

        start = datetime(2026, 1, 1, tzinfo=UTC)
        events, expected = _likes(likes, uniform, users, rng, hot=None, start=start)
        click.echo(f"run 1: {likes:,} likes over {posts:,} posts")
        rate, rate_exact, writes_per_like, exact = _run(ns, producer, worker.log, events, expected)

        events, expected_hot = _likes(
            likes, spread, users, rng, hot="hot", start=start + timedelta(days=1)
        )
        click.echo(f"run 2: {likes:,} likes, half of them on one post")
        hot_rate, hot_rate_exact, hot_writes, hot_exact = _run(
            ns, producer, worker.log, events, expected_hot
        )

        topic = ENGAGEMENT.name(ns.name)
        raw = raw_consume_rate(ns.settings, topic, 2 * likes)

        click.echo(f"freshness: {probes} probes under {probe_load:,} background likes/s")
        url = ns.start_api()
        latencies = _freshness(ns, producer, url, fresh, uniform, users, probe_load)

    ratio = rate / raw if raw else 0.0
    click.echo("")
    click.echo(f"{'figure':<44}{'value':>14}   reference (same run)")
    click.echo(
        f"{'likes/s through one worker, exact':<44}{rate:>14,.0f}   raw confluent consumer "
        f"{raw:,.0f}/s (ratio {ratio:.2f}); floor 10,000; exact={exact}"
    )
    click.echo(
        f"{'  until every count is exact (last flush in)':<44}{rate_exact:>14,.0f}   "
        f"flush interval {flush_interval_s:g} s"
    )
    click.echo(
        f"{'  same, one post taking half the load':<44}{hot_rate:>14,.0f}   "
        f"uniform run {rate:,.0f}/s (ratio {hot_rate / rate:.2f}); exact={hot_exact}; "
        f"until exact {hot_rate_exact:,.0f}/s"
    )
    click.echo(
        f"{'Cassandra writes per like':<44}{writes_per_like:>14.4f}   one per like would be "
        f"1.0; hot run {hot_writes:.4f}"
    )
    if latencies:
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        click.echo(
            f"{'freshness p50 / p99 (ms)':<44}{p50:>7.0f}/{p99:<6.0f}   flush interval "
            f"{flush_interval_s * 1000:.0f} ms; floor p99 <= {flush_interval_s * 1000 + 1000:.0f} ms"
        )


def _freshness(
    ns: BenchNamespace,
    producer: object,
    url: str,
    fresh: list[str],
    background_posts: list[str],
    users: int,
    load: int,
) -> list[float]:
    """Like produced -> count visible through the API, one probe post each."""
    from api.auth import issue_token, load_secret

    stop = threading.Event()
    rng = random.Random(5)

    def background() -> None:
        # Its own producer: confluent producers are not shared across threads here.
        from clients.kafka import EventProducer

        own = EventProducer(ns.settings)
        while not stop.is_set():
            tick = time.perf_counter()
            for _ in range(load // 10):
                own.send(
                    own.prepare(
                        {
                            "type": "like",
                            "user_id": f"u{rng.randrange(users)}",
                            "post_id": rng.choice(background_posts),
                        }
                    )
                )
            own.poll(0)
            time.sleep(max(0.0, 0.1 - (time.perf_counter() - tick)))
        own.flush(30)

    thread = threading.Thread(target=background, daemon=True)
    thread.start()
    token = issue_token("bench", secret=load_secret(ns.settings), ttl_s=3600)
    latencies: list[float] = []
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=5
        ) as client:
            for post_id in fresh:
                sent = time.perf_counter()
                producer.send(  # type: ignore[attr-defined]
                    producer.prepare(  # type: ignore[attr-defined]
                        {"type": "like", "user_id": "prober", "post_id": post_id}
                    )
                )
                producer.flush(10)  # type: ignore[attr-defined]
                while time.perf_counter() - sent < 30:
                    body = client.get(f"/v1/posts/{post_id}/stats").json()
                    if body.get("likes") == 1:
                        latencies.append((time.perf_counter() - sent) * 1000)
                        break
                    time.sleep(0.01)
    finally:
        stop.set()
        thread.join(10)
    return latencies
