"""The media projection rate of one worker, beside plain Faust iteration of the same backlog.

Part of ``photostream bench media`` (``--projection-events``): outcome events of
media still processing, as the photo and Reel agents send them (two ``media_progress``
then a ``media_ready``, or a ``media_failed`` for one in ten), produced pre-serialised to
the media topic, keyed by media id. The steady rate of the worker's committed offsets on
that topic (10 % to 90 %) is the events/s; every agent on the media topic takes part
(the commit waits for all of them), the photo and Reel agents skip outcomes at once.
Then every medium's Redis hash and Cassandra row must hold its final state. The
references, in the same run: a do-nothing Faust agent iterating the same topic
(``bench.faust_iteration``) and a raw confluent-kafka consumer.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.engagement import CommitWatch, steady_rate
from bench.faust_iteration import faust_iteration_rate
from bench.harness import BenchNamespace, raw_consume_rate
from schemas.events import make_event
from schemas.redis_keys import RedisKeys
from schemas.topics import MEDIA

VARIANT = {
    "name": "w320",
    "object_key": "variants/m/w320.jpg",
    "content_type": "image/jpeg",
    "width": 320,
    "height": 240,
}
_CHECK_CHUNK = 2_000


@dataclass(frozen=True)
class ProjectionFigures:
    events: int
    rate: float
    plain_faust: float
    raw_consume: float
    exact: bool
    media: int


def _events(n: int, rng: random.Random) -> tuple[list[tuple[bytes, bytes]], dict[str, str]]:
    """``n`` outcome messages (key, value) and each medium's final state."""
    start = datetime.now(UTC) - timedelta(hours=1)
    out: list[tuple[bytes, bytes]] = []
    final: dict[str, str] = {}
    i = 0
    while len(out) < n:
        media_id, owner = f"pm{i}", f"po{rng.randrange(1000)}"
        at = start + timedelta(milliseconds=10 * i)
        steps = [("media_progress", {"kind": "video", "variants": [VARIANT]})] * 2
        if rng.random() < 0.1:
            steps.append(("media_failed", {"reason": "timeout: too slow"}))
            final[media_id] = "failed"
        else:
            done = {"kind": "video", "variants": [VARIANT], "width": 1280, "height": 720}
            steps.append(("media_ready", done))
            final[media_id] = "ready"
        for j, (kind, fields) in enumerate(steps):
            event = make_event(
                kind,
                user_id=owner,
                media_id=media_id,
                occurred_at=at + timedelta(milliseconds=j),
                **fields,
            )
            out.append((media_id.encode(), event.to_json()))
        i += 1
    return out, final


async def _states(ns: BenchNamespace, final: dict[str, str]) -> tuple[bool, bool]:
    """(every hash at its final state, every row at its final state)."""
    from clients.cassandra import open_db
    from clients.redis import connect

    redis = connect(ns.settings)
    keys = RedisKeys(ns.name)
    ids = sorted(final)
    hashes: list[str | None] = []
    for i in range(0, len(ids), _CHECK_CHUNK):
        async with redis.pipeline(transaction=False) as pipe:
            for media_id in ids[i : i + _CHECK_CHUNK]:
                pipe.hget(keys.media(media_id), "state")
            hashes.extend(await pipe.execute())
    await redis.aclose()
    db = await open_db(ns.settings)
    rows = [r for r in await db.scan("SELECT media_id, state FROM media") if r.media_id in final]
    db.close()
    return (
        hashes == [final[m] for m in ids],
        {r.media_id: r.state for r in rows} == final,
    )


def projection_run(
    ns: BenchNamespace, producer: object, *, events: int, seed: int = 3
) -> ProjectionFigures:
    messages, final = _events(events, random.Random(seed))
    topic = MEDIA.name(ns.name)
    watch = CommitWatch(ns.settings, topic)
    base = watch.committed()
    with watch:
        for key, value in messages:
            producer.send_raw(topic, key, value)  # type: ignore[attr-defined]
        producer.flush(120)  # type: ignore[attr-defined]
        while not watch.samples or watch.samples[-1][1] < base + len(messages):
            time.sleep(0.2)
    rate = steady_rate(watch.samples, base, len(messages)) or 0.0
    deadline = time.monotonic() + 60
    hashes_ok, rows_ok = asyncio.run(_states(ns, final))
    while not (hashes_ok and rows_ok) and time.monotonic() < deadline:
        time.sleep(0.5)
        hashes_ok, rows_ok = asyncio.run(_states(ns, final))
    return ProjectionFigures(
        events=len(messages),
        rate=rate,
        plain_faust=faust_iteration_rate(ns.settings, topic, len(messages)),
        raw_consume=raw_consume_rate(ns.settings, topic, len(messages), batch=1000),
        exact=hashes_ok and rows_ok,
        media=len(final),
    )


def run_projection_bench(events: int) -> ProjectionFigures:
    """A worker in a throw-away namespace, the outcomes produced, the figures taken."""
    from clients.kafka import EventProducer

    with BenchNamespace() as ns:
        ns.start_worker()
        producer = EventProducer(ns.settings)
        try:
            return projection_run(ns, producer, events=events)
        finally:
            producer.close()
