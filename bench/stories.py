"""``photostream bench stories``: tray reads at 64 concurrent clients, 500 followed authors.

Against the real services, in a throw-away namespace:

1. ``--viewers`` viewers each follow the same ``--authors`` authors (the graph is
   written the way the graph agent writes it: Cassandra ``followers`` rows, Redis
   ``following`` and ``followers`` sets); a share of the authors count each viewer as
   a close friend.
2. One story per author is produced; the worker fans each out to its followers'
   trays. Reported: time until every tray is complete, and tray writes/s.
3. A share of the stories are watched, so trays mix seen and unseen entries.
4. ``--clients`` concurrent HTTP clients read ``GET /v1/stories/tray`` for
   ``--seconds``; the reference is the same number of asyncio tasks doing the raw,
   pipelined Redis reads of the same keys (what the reader fetches, without HTTP,
   JSON or ordering), measured in the same run.
5. ``--view-events`` story views (repeat views and re-sent duplicates among them) are
   produced pre-serialised; the steady rate of the worker's committed offsets on the
   story-views topic (10 % to 90 %) is the views/s, beside a do-nothing Faust agent
   iterating the same topic (``bench.faust_iteration``) and a raw confluent-kafka
   consumer; then every story's view count in Redis must equal its distinct viewers.
6. ``--fanout-events`` stories of authors with ``--fanout-followers`` followers each:
   story_created/s beside the same two references, and every tray checked exactly
   (``bench.story_fanout``).
"""

from __future__ import annotations

import asyncio
import random
import time

import click
import httpx

from bench.engagement import CommitWatch, steady_rate
from bench.faust_iteration import faust_iteration_rate
from bench.harness import BenchNamespace, percentile, raw_consume_rate
from bench.story_fanout import fanout_run
from domain.stories import live_since_ms
from schemas.events import make_event
from schemas.redis_keys import RedisKeys
from schemas.topics import STORY_VIEWS


async def _seed_graph(
    ns: BenchNamespace, viewers: list[str], authors: list[str], rng: random.Random
) -> None:
    from clients.cassandra import open_db
    from clients.redis import connect

    db = await open_db(ns.settings)
    await db.execute_many(
        "INSERT INTO followers (user_id, follower_id, since) VALUES (?, ?, toTimestamp(now()))",
        [(a, v) for a in authors for v in viewers],
        concurrency=128,
    )
    db.close()
    redis = connect(ns.settings)
    keys = RedisKeys(ns.name)
    async with redis.pipeline(transaction=False) as pipe:
        for v in viewers:
            pipe.sadd(keys.following(v), *authors)
        for a in authors:
            pipe.sadd(keys.followers(a), *viewers)  # the audience the fan-out reads
        for a in authors:
            close = [v for v in viewers if rng.random() < 0.05]
            if close:
                # Both directions, as the graph agent and the close-friends index write them.
                pipe.sadd(keys.close_friends(a), *close)
                for v in close:
                    pipe.sadd(keys.close_friend_of(v), a)
        await pipe.execute()
    await redis.aclose()


async def _tray_sizes(ns: BenchNamespace, viewers: list[str]) -> int:
    from clients.redis import connect

    redis = connect(ns.settings)
    keys = RedisKeys(ns.name)
    async with redis.pipeline(transaction=False) as pipe:
        for v in viewers:
            pipe.zcard(keys.story_tray(v))
        sizes = await pipe.execute()
    await redis.aclose()
    return sum(sizes)


def _views(
    n: int, stories: list[tuple[str, str]], viewers: int, rng: random.Random
) -> list[tuple[bytes, bytes, str, str]]:
    """``n`` story_viewed messages (key, value, story, viewer), a tenth of them re-sent
    copies of earlier ones (the same event id) and many repeat views."""
    out: list[tuple[bytes, bytes, str, str]] = []
    while len(out) < n:
        if out and rng.random() < 0.1:
            out.append(rng.choice(out))
            continue
        author, story_id = rng.choice(stories)
        viewer = f"w{rng.randrange(viewers)}"
        event = make_event("story_viewed", user_id=viewer, story_id=story_id, owner_id=author)
        out.append((story_id.encode(), event.to_json(), story_id, viewer))
    return out


async def _view_counts(ns: BenchNamespace, story_ids: list[str]) -> dict[str, int]:
    from clients.redis import connect

    redis = connect(ns.settings)
    keys = RedisKeys(ns.name)
    async with redis.pipeline(transaction=False) as pipe:
        for story_id in story_ids:
            pipe.get(keys.story_views(story_id))
        values = await pipe.execute()
    await redis.aclose()
    return {s: int(v or 0) for s, v in zip(story_ids, values, strict=True)}


async def _load(worker_fn, clients: int, seconds: float) -> tuple[list[float], int]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(i: int) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            ok = await worker_fn(i)
            latencies.append((time.perf_counter() - start) * 1000)
            errors += 0 if ok else 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, errors


async def _http_reads(
    url: str, tokens: list[str], clients: int, seconds: float
) -> tuple[list[float], int, int]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    sizes: list[int] = []
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:

        async def one(i: int) -> bool:
            r = await http.get(
                "/v1/stories/tray",
                params={"limit": 500},
                headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
            )
            if r.status_code == 200 and len(sizes) < 10:
                sizes.append(len(r.json()["data"]))
            return r.status_code == 200

        for i in range(clients):  # warm-up: connections and code paths
            await one(i)
        latencies, errors = await _load(one, clients, seconds)
    return latencies, errors, (sizes[0] if sizes else 0)


async def _raw_reads(
    ns: BenchNamespace, viewers: list[str], clients: int, seconds: float
) -> list[float]:
    from clients.redis import connect

    redis = connect(ns.settings)
    keys = RedisKeys(ns.name)

    async def one(i: int) -> bool:
        viewer = viewers[i % len(viewers)]
        now = int(time.time() * 1000)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(
                keys.story_tray(viewer), f"({live_since_ms(now)}", "+inf", withscores=True
            )
            pipe.hgetall(keys.stories_seen(viewer))
            pipe.smembers(keys.blocked(viewer))
            pipe.smembers(keys.close_friend_of(viewer))
            entries, *_ = await pipe.execute()
        await redis.smismember(keys.following(viewer), [a for a, _ in entries])
        return True

    latencies, _ = await _load(one, clients, seconds)
    await redis.aclose()
    return latencies


@click.command()
@click.option("--viewers", default=64, show_default=True)
@click.option("--authors", default=500, show_default=True, help="Authors every viewer follows.")
@click.option("--clients", default=64, show_default=True, help="Concurrent readers.")
@click.option("--seconds", default=10.0, show_default=True, help="Duration of each read run.")
@click.option("--seen-share", default=0.3, show_default=True, help="Stories already watched.")
@click.option(
    "--view-events", default=60_000, show_default=True, help="Story views in the views run."
)
@click.option(
    "--fanout-events",
    default=30_000,
    show_default=True,
    help="story_created events in the fan-out run (0 skips it).",
)
@click.option("--fanout-followers", default=10, show_default=True, help="Followers per author.")
@click.option("--fanout-authors", default=3_000, show_default=True)
def stories(
    viewers: int,
    authors: int,
    clients: int,
    seconds: float,
    seen_share: float,
    view_events: int,
    fanout_events: int,
    fanout_followers: int,
    fanout_authors: int,
) -> None:
    """Tray read p50/p99 over HTTP vs raw pipelined Redis reads of the same keys."""
    from api.auth import issue_token, load_secret
    from clients.kafka import EventProducer

    rng = random.Random(5)
    viewer_ids = [f"v{i}" for i in range(viewers)]
    author_ids = [f"a{i}" for i in range(authors)]
    with BenchNamespace() as ns:
        started = time.perf_counter()
        asyncio.run(_seed_graph(ns, viewer_ids, author_ids, rng))
        click.echo(
            f"graph: {viewers} viewers x {authors} authors in {time.perf_counter() - started:.1f} s"
        )
        ns.start_worker()
        producer = EventProducer(ns.settings)
        now = time.time()
        story_ids = []
        for i, author in enumerate(author_ids):
            story_id = f"s{i}"
            story_ids.append((author, story_id))
            producer.send(
                make_event(
                    "story_created",
                    user_id=author,
                    story_id=story_id,
                    media_id=f"m{i}",
                    close_friends_only=rng.random() < 0.1,
                    occurred_at=time.strftime(
                        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - rng.uniform(0, 20 * 3600))
                    ),
                )
            )
        producer.flush()
        fan_start = time.perf_counter()
        expected = None
        last, stable_since = -1, time.perf_counter()
        # Complete when the tray total stops growing for 3 s (close-friends-only stories
        # reach only close friends, so the exact total is what the worker computes).
        while True:
            if time.perf_counter() - fan_start > 300:
                raise click.ClickException("no tray was written in 300 s")
            total = asyncio.run(_tray_sizes(ns, viewer_ids))
            if total != last:
                last, stable_since = total, time.perf_counter()
            elif total > 0 and time.perf_counter() - stable_since > 3:
                break
            time.sleep(0.2)
        fan_s = stable_since - fan_start
        expected = last
        distinct: dict[str, set[str]] = {story_id: set() for _, story_id in story_ids}
        seen_views = 0
        for v in viewer_ids:
            for author, story_id in story_ids:
                if rng.random() < seen_share:
                    producer.send(
                        make_event("story_viewed", user_id=v, story_id=story_id, owner_id=author)
                    )
                    distinct[story_id].add(v)
                    seen_views += 1
        producer.flush()

        url = ns.start_api()
        secret = load_secret(ns.settings)
        tokens = [issue_token(v, secret=secret, ttl_s=3600) for v in viewer_ids]
        http_lat, errors, tray_size = asyncio.run(_http_reads(url, tokens, clients, seconds))
        raw_lat = asyncio.run(_raw_reads(ns, viewer_ids, clients, seconds))

        views = _views(view_events, story_ids, viewers=2000, rng=rng)
        for _, _, story_id, viewer in views:
            distinct[story_id].add(viewer)
        views_topic = STORY_VIEWS.name(ns.name)
        click.echo(f"views run: {len(views):,} story views")
        watch = CommitWatch(ns.settings, views_topic)
        base = watch.committed()
        with watch:
            for key, value, _, _ in views:
                producer.send_raw(views_topic, key, value)
            producer.flush(120)
            # The watch's own samples: its consumer is not shared across threads.
            while not watch.samples or watch.samples[-1][1] < base + len(views):
                time.sleep(0.2)
        views_rate = steady_rate(watch.samples, base, len(views)) or 0.0
        fan = None
        if fanout_events:
            click.echo(f"fan-out run: {fanout_events:,} stories x {fanout_followers} followers")
            fan = fanout_run(
                ns,
                producer,
                events=fanout_events,
                authors=fanout_authors,
                followers_each=fanout_followers,
                pool=max(fanout_followers, fanout_authors * 4),
                already_in_topic=authors,
            )
        producer.close()
        want = {story_id: len(users) for story_id, users in distinct.items()}
        deadline = time.monotonic() + 60
        counts = asyncio.run(_view_counts(ns, list(want)))
        while counts != want and time.monotonic() < deadline:
            time.sleep(0.5)
            counts = asyncio.run(_view_counts(ns, list(want)))
        views_exact = counts == want
        in_topic = seen_views + len(views)
        plain_views = faust_iteration_rate(ns.settings, views_topic, in_topic)
        raw_views = raw_consume_rate(ns.settings, views_topic, in_topic, batch=1000)

    click.echo("")
    click.echo(f"{'figure':<40}{'value':>12}   reference (same run)")
    click.echo(
        f"{'fan-out: tray entries written':<40}{expected:>12,}   "
        f"in {fan_s:.1f} s = {expected / max(fan_s, 1e-9):,.0f} tray writes/s ({authors} stories)"
    )
    click.echo(f"{'tray size read (authors)':<40}{tray_size:>12}")
    for q in (50, 99):
        click.echo(
            f"{f'tray read p{q}, {clients} clients, HTTP':<40}{percentile(http_lat, q):>9.1f} ms   "
            f"raw pipelined Redis reads of the same keys: {percentile(raw_lat, q):.1f} ms"
        )
    click.echo(
        f"{'tray reads/s':<40}{len(http_lat) / seconds:>12,.0f}   "
        f"raw Redis: {len(raw_lat) / seconds:,.0f}/s; errors {errors}"
    )
    click.echo(
        f"{'story views/s, one worker':<40}{views_rate:>12,.0f}   "
        f"plain Faust iteration of the story-views topic {plain_views:,.0f}/s "
        f"(ratio {views_rate / plain_views:.2f}); raw confluent-kafka consume {raw_views:,.0f}/s"
    )
    if fan is not None:
        click.echo(
            f"{f'story_created/s, {fan.followers_each} followers, one worker':<40}"
            f"{fan.rate:>12,.0f}   plain Faust iteration of the stories topic "
            f"{fan.plain_faust:,.0f}/s (ratio {fan.rate / fan.plain_faust:.2f}); "
            f"raw confluent-kafka consume {fan.raw_consume:,.0f}/s"
        )
        click.echo(
            f"{'fan-out trays exact':<40}{'yes' if fan.exact else 'NO':>12}   "
            f"{fan.trays_checked:,} trays; {fan.tray_writes:,.0f} tray entries/s"
        )
    click.echo(
        f"{'view counts exact (distinct viewers)':<40}{'yes' if views_exact else 'NO':>12}   "
        f"{len(want)} stories"
    )
