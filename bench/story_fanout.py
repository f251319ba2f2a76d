"""The story fan-out rate of one worker, beside plain Faust iteration of the same backlog.

Part of ``photostream bench stories`` (``--fanout-events``): ``--fanout-authors``
authors, each followed by ``--fanout-followers`` users drawn from a pool (the Redis
``followers`` sets the fan-out reads), post ``--fanout-events`` live stories between
them, produced pre-serialised to the stories topic. The steady rate of the worker's
committed offsets on that topic (10 % to 90 %) is the story_created events/s; then
every follower's tray must hold exactly each followed author who posted, scored by
that author's newest story. The references, in the same run: a do-nothing Faust agent
iterating the same topic (``bench.faust_iteration``) and a raw confluent-kafka consumer.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from bench.engagement import CommitWatch, steady_rate
from bench.faust_iteration import faust_iteration_rate
from bench.harness import BenchNamespace, raw_consume_rate
from schemas.events import make_event
from schemas.redis_keys import RedisKeys
from schemas.topics import STORIES

# Followers per pipelined read when the trays are checked.
_CHECK_CHUNK = 2_000


@dataclass(frozen=True)
class FanOutFigures:
    events: int
    followers_each: int
    rate: float  # story_created events/s, one worker (steady)
    tray_writes: float  # tray entries pushed/s at that rate
    plain_faust: float  # the same topic through a do-nothing Faust agent
    raw_consume: float
    exact: bool
    trays_checked: int


async def _seed(ns: BenchNamespace, audiences: dict[str, list[str]]) -> None:
    from clients.redis import connect

    redis = connect(ns.settings)
    keys = RedisKeys(ns.name)
    async with redis.pipeline(transaction=False) as pipe:
        for author, followers in audiences.items():
            pipe.sadd(keys.followers(author), *followers)
        await pipe.execute()
    await redis.aclose()


async def _trays(ns: BenchNamespace, viewers: list[str]) -> dict[str, dict[str, float]]:
    from clients.redis import connect

    redis = connect(ns.settings)
    keys = RedisKeys(ns.name)
    out: dict[str, dict[str, float]] = {}
    for i in range(0, len(viewers), _CHECK_CHUNK):
        chunk = viewers[i : i + _CHECK_CHUNK]
        async with redis.pipeline(transaction=False) as pipe:
            for v in chunk:
                pipe.zrange(keys.story_tray(v), 0, -1, withscores=True)
            replies = await pipe.execute()
        out.update({v: dict(r) for v, r in zip(chunk, replies, strict=True)})
    await redis.aclose()
    return out


def fanout_run(
    ns: BenchNamespace,
    producer: object,
    *,
    events: int,
    authors: int,
    followers_each: int,
    pool: int,
    already_in_topic: int,
    seed: int = 11,
) -> FanOutFigures:
    """Seed the audiences, produce the stories, measure, check the trays exactly."""
    rng = random.Random(seed)
    audiences = {
        f"fa{i}": [f"ff{j}" for j in rng.sample(range(pool), followers_each)]
        for i in range(authors)
    }
    asyncio.run(_seed(ns, audiences))
    now = time.time()
    newest: dict[str, int] = {}
    messages: list[tuple[bytes, bytes]] = []
    for i in range(events):
        author = f"fa{rng.randrange(authors)}"
        event = make_event(
            "story_created",
            user_id=author,
            story_id=f"fs{i}",
            media_id=f"fm{i}",
            close_friends_only=False,
            occurred_at=time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - rng.uniform(0, 12 * 3600))
            ),
        )
        newest[author] = max(newest.get(author, 0), event.occurred_ms)
        messages.append((author.encode(), event.to_json()))
    topic = STORIES.name(ns.name)
    watch = CommitWatch(ns.settings, topic)
    base = watch.committed()
    with watch:
        for key, value in messages:
            producer.send_raw(topic, key, value)  # type: ignore[attr-defined]
        producer.flush(120)  # type: ignore[attr-defined]
        while not watch.samples or watch.samples[-1][1] < base + events:
            time.sleep(0.2)
    rate = steady_rate(watch.samples, base, events) or 0.0

    want: dict[str, dict[str, float]] = {}
    for author, ms in newest.items():
        for follower in audiences[author]:
            want.setdefault(follower, {})[author] = float(ms)
    viewers = sorted(want)
    trays = asyncio.run(_trays(ns, viewers))
    deadline = time.monotonic() + 60
    while trays != want and time.monotonic() < deadline:
        time.sleep(0.5)
        trays = asyncio.run(_trays(ns, viewers))
    in_topic = already_in_topic + events
    return FanOutFigures(
        events=events,
        followers_each=followers_each,
        rate=rate,
        tray_writes=rate * followers_each,
        plain_faust=faust_iteration_rate(ns.settings, topic, in_topic),
        raw_consume=raw_consume_rate(ns.settings, topic, in_topic, batch=1000),
        exact=trays == want,
        trays_checked=len(viewers),
    )
