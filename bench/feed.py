"""``photostream bench feed``: fan-out, post-to-visible and GET /v1/feed, beside references.

Runs a worker and an API for a throw-away namespace on the real Kafka, Redis and
Cassandra, builds a graph through the event log, and measures, each beside a reference
taken in the same run:

* fan-out candidate writes/s (the fan-out path alone, and end to end through the
  worker) vs ``redis-benchmark`` pipelined ZADD, the ceiling for any fan-out;
* post-to-visible p50/p99 (produce -> in a follower's feed) at a target produce rate;
* GET /v1/feed p50/p99 and req/s at 1, 16 and 64 concurrent clients, for viewers with
  ``feed_cap`` pushed candidates and 5 celebrity followees, vs a naive fan-out-on-read
  (per-followee and per-post Cassandra queries, SQL-join style) over the same data.
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import httpx

from bench.harness import BenchNamespace, percentile


def _ms(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


# --- references -----------------------------------------------------------------------


def redis_benchmark_zadd(settings: Any, prefix: str, requests: int, pipeline: int) -> float:
    """Pipelined ZADD ops/s from ``redis-benchmark`` over 10k keys of this namespace."""
    exe = shutil.which("redis-benchmark")
    if exe is None:
        raise click.ClickException("redis-benchmark not found (Debian: redis-tools)")
    out = subprocess.run(
        [
            exe,
            "-h",
            settings.redis_host,
            "-p",
            str(settings.redis_port),
            "-n",
            str(requests),
            "-P",
            str(pipeline),
            "-r",
            "10000",
            "-q",
            "ZADD",
            f"{prefix}:rb:__rand_int__",
            "__rand_int__",
            "m__rand_int__",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    match = re.search(r"([\d.]+) requests per second", out)
    if match is None:
        raise click.ClickException(f"cannot read redis-benchmark output: {out!r}")
    return float(match[1])


# --- the graph, through the event log ---------------------------------------------------


class Graph:
    def __init__(
        self,
        viewers: int,
        push_authors: int,
        celebrities: int,
        threshold: int,
        rate_authors: int,
        rate_followers: int,
    ) -> None:
        self.viewers = [f"v{i}" for i in range(viewers)]
        self.push_authors = [f"a{i}" for i in range(push_authors)]
        self.celebrities = [f"c{i}" for i in range(celebrities)]
        self.fillers = [f"f{i}" for i in range(max(0, threshold - viewers))]
        self.rate_authors = [f"r{i}" for i in range(rate_authors)]
        self.rate_users = [f"ru{i}" for i in range(max(rate_followers, rate_authors))]
        self.rate_followers = rate_followers

    def events(self, now: datetime) -> list[dict[str, Any]]:
        users = {*self.viewers, *self.push_authors, *self.celebrities, *self.rate_authors}
        out: list[dict[str, Any]] = [
            {
                "type": "profile_updated",
                "user_id": u,
                "username": u,
                "display_name": u.upper(),
                "is_private": False,
                "occurred_at": _ms(now),
            }
            for u in sorted(users)
        ]
        for v in self.viewers:
            for a in (*self.push_authors, *self.celebrities):
                out.append(
                    {"type": "follow", "user_id": v, "target_id": a, "occurred_at": _ms(now)}
                )
        for f in self.fillers:
            for c in self.celebrities:
                out.append(
                    {"type": "follow", "user_id": f, "target_id": c, "occurred_at": _ms(now)}
                )
        for i, a in enumerate(self.rate_authors):
            for j in range(self.rate_followers):
                u = self.rate_users[(i * 7 + j) % len(self.rate_users)]
                out.append(
                    {"type": "follow", "user_id": u, "target_id": a, "occurred_at": _ms(now)}
                )
        return out

    def expected_followers(self) -> dict[str, int]:
        want = {a: len(self.viewers) for a in self.push_authors}
        want |= {c: len(self.viewers) + len(self.fillers) for c in self.celebrities}
        want |= {
            a: len(
                set(
                    self.rate_users[(i * 7 + j) % len(self.rate_users)]
                    for j in range(self.rate_followers)
                )
            )
            for i, a in enumerate(self.rate_authors)
        }
        return want

    def probe_follower(self, rate_author_index: int) -> str:
        return self.rate_users[(rate_author_index * 7) % len(self.rate_users)]


def produce_all(producer: Any, events: list[dict[str, Any]]) -> None:
    for data in events:
        producer.send(producer.prepare(data))
    left = producer.flush(60)
    if left:
        raise click.ClickException(f"{left} events were not delivered")


async def wait_for(
    probe: Callable[[], Awaitable[bool]], timeout_s: float, what: str, interval_s: float = 0.02
) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if await probe():
            return time.perf_counter() - started
        await asyncio.sleep(interval_s)
    raise click.ClickException(f"timed out after {timeout_s:.0f} s waiting for {what}")


# --- fan-out ------------------------------------------------------------------------------


async def fan_out_script_rate(
    conn: Any, *, authors: int, followers: int, posts: int, in_flight: int
) -> tuple[float, int]:
    """Candidate writes/s of the fan-out path alone (the posts' states, their audiences,
    the domain's recipients, the pushes), from this process: Redis only, no Kafka, in
    the worker's batches of ``in_flight`` posts."""
    from domain.fanout import post_recipients
    from schemas.redis_hashes import PostHash
    from sinks.feeds import project_posts, spread_posts
    from sinks.graph import read_audiences

    redis, k, s = conn.redis(), conn.keys, conn.settings
    now_ms = int(time.time() * 1000)
    audience = [f"fx-u{i}" for i in range(followers * 2)]
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(k.active_users(), dict.fromkeys(audience, now_ms))
        for i in range(authors):
            pipe.sadd(k.followers(f"fx-a{i}"), *random.Random(i).sample(audience, followers))
        await pipe.execute()
    pushed = 0
    started = time.perf_counter()
    for first in range(0, posts, in_flight):
        batch = range(first, min(posts, first + in_flight))
        shapes = {
            n: PostHash(author_id=f"fx-a{n % authors}", state="ready", created_ms=now_ms + n)
            for n in batch
        }
        await project_posts(
            conn, [(f"fx-p{n}", shape, now_ms * 1000 + n, n) for n, shape in shapes.items()]
        )
        audiences = await read_audiences(conn, [shape.author_id for shape in shapes.values()])
        pushes = []
        for n, shape in shapes.items():
            fan = post_recipients(
                audiences[shape.author_id],
                now_ms=now_ms,
                celebrity_threshold=s.celebrity_threshold,
                inactive_after_days=s.inactive_after_days,
            )
            pushes.append((f"fx-p{n}", now_ms + n, fan.recipients))
        pushed += await spread_posts(conn, pushes)
    elapsed = time.perf_counter() - started
    return pushed / elapsed, pushed


# --- post to visible ----------------------------------------------------------------------


def paced_posts(
    producer: Any,
    graph: Graph,
    rate: float,
    duration_s: float,
    sent: dict[str, tuple[str, float]],
    done: threading.Event,
) -> None:
    total = int(rate * duration_s)
    started = time.perf_counter()
    for n in range(total):
        i = n % len(graph.rate_authors)
        post_id = f"rp{n}"
        event = producer.prepare(
            {
                "type": "post_created",
                "user_id": graph.rate_authors[i],
                "post_id": post_id,
                "caption": "",
                "media": [],
            }
        )
        sent[post_id] = (graph.probe_follower(i), time.perf_counter())
        producer.send(event)
        producer.poll(0)
        delay = started + (n + 1) / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    producer.flush(60)
    sent["__produced_in_s__"] = ("", time.perf_counter() - started)
    done.set()


async def post_to_visible(
    conn: Any, producer: Any, graph: Graph, rate: float, duration_s: float
) -> tuple[list[float], float]:
    redis, k = conn.redis(), conn.keys
    sent: dict[str, tuple[str, float]] = {}
    done = threading.Event()
    thread = threading.Thread(
        target=paced_posts, args=(producer, graph, rate, duration_s, sent, done), daemon=True
    )
    started = time.perf_counter()
    thread.start()
    latencies: list[float] = []
    seen: set[str] = set()
    deadline = time.perf_counter() + duration_s + 60
    while time.perf_counter() < deadline:
        # The oldest 500 outstanding posts per poll: bounded work that leaves the producer
        # thread its share of the interpreter.
        pending = [(p, f, t) for p, (f, t) in list(sent.items()) if p not in seen and f][:500]
        if not pending and done.is_set():
            break
        if pending:
            async with redis.pipeline(transaction=False) as pipe:
                for post_id, follower, _ in pending:
                    pipe.zscore(k.feed(follower), post_id)
                scores = await pipe.execute()
            now = time.perf_counter()
            for (post_id, _, t0), score in zip(pending, scores, strict=True):
                if score is not None:
                    seen.add(post_id)
                    latencies.append((now - t0) * 1000)
        await asyncio.sleep(0.005)
    thread.join(5)
    produced_in_s = sent.pop("__produced_in_s__", ("", time.perf_counter() - started))[1]
    produced_rate = len(sent) / max(1e-9, produced_in_s)
    if len(seen) < len(sent):
        click.echo(f"  warning: {len(sent) - len(seen)} posts never became visible")
    return latencies, produced_rate


# --- feed reads -------------------------------------------------------------------------


async def http_load(
    url: str, tokens: list[str], concurrency: int, requests: int
) -> tuple[list[float], float, int]:
    """Latencies, rate and transport errors (a connection the server dropped: counted,
    not timed, and the request is not sent again)."""
    latencies: list[float] = []
    dropped = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        counter = iter(range(requests))

        async def loop(worker: int) -> None:
            nonlocal dropped
            rng = random.Random(worker)
            for _ in counter:
                token = rng.choice(tokens)
                t0 = time.perf_counter()
                try:
                    r = await client.get(
                        "/v1/feed",
                        params={"limit": 20},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                except httpx.TransportError:
                    dropped += 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200 or len(r.json()["data"]) != 20:
                    raise click.ClickException(f"bad feed answer {r.status_code}: {r.text[:200]}")

        for warm in tokens[: min(len(tokens), 16)]:  # warm connections and code paths
            await client.get("/v1/feed", headers={"Authorization": f"Bearer {warm}"})
        started = time.perf_counter()
        await asyncio.gather(*(loop(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, len(latencies) / elapsed, dropped


async def naive_load(
    db: Any, viewers: list[str], concurrency: int, requests: int
) -> tuple[list[float], float]:
    """Fan-out on read, join style: followees, then each followee's posts, then each post."""
    latencies: list[float] = []

    async def one(viewer: str) -> None:
        followees = await db.execute(
            "SELECT followee_id FROM following WHERE user_id = ?", (viewer,)
        )
        tails = await asyncio.gather(
            *(
                db.execute(
                    "SELECT created_at, post_id FROM posts_by_author WHERE author_id = ? LIMIT 20",
                    (f.followee_id,),
                )
                for f in followees
            )
        )
        newest = sorted(
            (r for t in tails for r in t), key=lambda r: (r.created_at, r.post_id), reverse=True
        )[:20]
        await asyncio.gather(
            *(
                db.execute(
                    "SELECT author_id, caption, media, state FROM posts WHERE post_id = ?",
                    (r.post_id,),
                )
                for r in newest
            )
        )

    counter = iter(range(requests))

    async def loop(worker: int) -> None:
        rng = random.Random(worker)
        for _ in counter:
            t0 = time.perf_counter()
            await one(rng.choice(viewers))
            latencies.append((time.perf_counter() - t0) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(concurrency)))
    return latencies, requests / (time.perf_counter() - started)


def _fmt(latencies: list[float]) -> str:
    return f"p50 {percentile(latencies, 50):7.1f} ms  p99 {percentile(latencies, 99):7.1f} ms"


# --- the command --------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """The knobs of one ``bench feed`` run (see the command's options)."""

    viewers: int
    push_authors: int
    posts_per_author: int
    celebrities: int
    threshold: int
    rate: float
    duration_s: float
    rate_authors: int
    rate_followers: int
    fanout_posts: int
    fanout_followers: int
    requests: int
    concurrency: list[int]


@click.command()
@click.option("--viewers", default=200, show_default=True, help="Feed readers.")
@click.option(
    "--push-authors", default=25, show_default=True, help="Ordinary authors every viewer follows."
)
@click.option(
    "--posts-per-author",
    default=20,
    show_default=True,
    help="Posts per ordinary author (authors x posts = candidates per viewer).",
)
@click.option(
    "--celebrities", default=5, show_default=True, help="Celebrities every viewer follows."
)
@click.option(
    "--threshold",
    default=300,
    show_default=True,
    help="Celebrity threshold (followers) for this run.",
)
@click.option("--rate", default=1000.0, show_default=True, help="Posts/s for post-to-visible.")
@click.option(
    "--duration",
    "duration_s",
    default=10.0,
    show_default=True,
    help="Seconds of posting at --rate.",
)
@click.option("--rate-authors", default=200, show_default=True)
@click.option(
    "--rate-followers",
    default=10,
    show_default=True,
    help="Followers per author in the post-to-visible phase.",
)
@click.option(
    "--fanout-posts",
    default=500,
    show_default=True,
    help="Posts for the fan-out path measurement.",
)
@click.option("--fanout-followers", default=1000, show_default=True)
@click.option(
    "--requests", default=1500, show_default=True, help="Feed reads per concurrency level."
)
@click.option("--concurrency", "levels", default="1,16,64", show_default=True)
def feed(
    viewers: int,
    push_authors: int,
    posts_per_author: int,
    celebrities: int,
    threshold: int,
    rate: float,
    duration_s: float,
    rate_authors: int,
    rate_followers: int,
    fanout_posts: int,
    fanout_followers: int,
    requests: int,
    levels: str,
) -> None:
    """Fan-out rate, post-to-visible latency and feed reads vs redis-benchmark and naive."""
    if threshold <= max(viewers, rate_followers):
        raise click.BadParameter(
            "must exceed --viewers and --rate-followers", param_hint="--threshold"
        )
    concurrency = [int(x) for x in levels.split(",") if x.strip()]
    with BenchNamespace("benchfeed") as ns:
        ns.settings = ns.settings.model_copy(update={"celebrity_threshold": threshold})
        ns.env["PHOTOSTREAM_CELEBRITY_THRESHOLD"] = str(threshold)
        click.echo(f"namespace {ns.name}; logs in {ns.logs}")
        asyncio.run(
            _run(
                ns,
                Scenario(
                    viewers,
                    push_authors,
                    posts_per_author,
                    celebrities,
                    threshold,
                    rate,
                    duration_s,
                    rate_authors,
                    rate_followers,
                    fanout_posts,
                    fanout_followers,
                    requests,
                    concurrency,
                ),
            )
        )


async def _run(ns: BenchNamespace, sc: Scenario) -> None:
    from api.auth import issue_token, load_secret
    from clients.kafka import EventProducer
    from sinks.connections import Connections

    settings = ns.settings
    conn = Connections(settings)
    producer = EventProducer(settings)
    cap = settings.feed_cap
    try:
        click.echo("reference: redis-benchmark ZADD, pipelined x64 ...")
        ceiling = redis_benchmark_zadd(settings, ns.name, 1_000_000, 64)
        click.echo(f"  redis-benchmark ZADD         {ceiling:12,.0f} ops/s")

        click.echo("fan-out path alone (from this process, 200 posts a batch) ...")
        # The path alone, for authors below an unreachable threshold (all pushed).
        script_conn = Connections(settings.model_copy(update={"celebrity_threshold": 10**9}))
        script_rate, pushed = await fan_out_script_rate(
            script_conn,
            authors=20,
            followers=sc.fanout_followers,
            posts=sc.fanout_posts,
            in_flight=200,
        )
        await script_conn.close()
        click.echo(
            f"  fan-out path alone           {script_rate:12,.0f} candidate writes/s "
            f"({pushed:,} writes; {script_rate / ceiling:.0%} of the ZADD ceiling)"
        )

        ns.start_worker()
        url = ns.start_api()
        graph = Graph(
            sc.viewers,
            sc.push_authors,
            sc.celebrities,
            sc.threshold,
            sc.rate_authors,
            sc.rate_followers,
        )
        events = graph.events(datetime.now(UTC))
        click.echo(f"building the graph through Kafka: {len(events):,} events ...")
        t0 = time.perf_counter()
        produce_all(producer, events)
        want = graph.expected_followers()
        redis, k = conn.redis(), conn.keys

        async def graph_done() -> bool:
            async with redis.pipeline(transaction=False) as pipe:
                for user in want:
                    pipe.hget(k.user_counts(user), "followers")
                got = await pipe.execute()
            return all(int(g or 0) == w for g, w in zip(got, want.values(), strict=True))

        await wait_for(graph_done, 600, "the graph", 0.2)
        graph_s = time.perf_counter() - t0
        click.echo(f"  graph events through the worker {len(events) / graph_s:9,.0f} events/s")

        secret = load_secret(settings)
        tokens = [issue_token(v, secret=secret, ttl_s=3600) for v in graph.viewers]
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for token in tokens:  # each viewer reads once: active, so fan-out pushes to them
                await client.get("/v1/feed", headers={"Authorization": f"Bearer {token}"})
        await redis.zadd(k.active_users(), dict.fromkeys(graph.rate_users, int(time.time() * 1000)))

        base = datetime.now(UTC) - timedelta(hours=2)
        # One second apart, oldest first: pushed authors' posts, then 40 per celebrity.
        authored = [
            (a, n, f"#{a} post {n}") for n in range(sc.posts_per_author) for a in graph.push_authors
        ]
        authored += [(c, n, f"{c} post {n}") for n in range(40) for c in graph.celebrities]
        posts: list[dict[str, Any]] = [
            {
                "type": "post_created",
                "user_id": author,
                "post_id": f"{author}-{n}",
                "caption": caption,
                "media": [],
                "occurred_at": _ms(base + timedelta(seconds=i)),
            }
            for i, (author, n, caption) in enumerate(authored)
        ]
        expected = min(cap, sc.push_authors * sc.posts_per_author)
        click.echo(
            f"fan-out through the worker: {len(posts):,} posts, {expected:,} candidates "
            f"for each of {sc.viewers} viewers ..."
        )
        t0 = time.perf_counter()
        produce_all(producer, posts)

        async def feeds_full() -> bool:
            async with redis.pipeline(transaction=False) as pipe:
                for v in graph.viewers:
                    pipe.zcard(k.feed(v))
                sizes = await pipe.execute()
            return all(s >= expected for s in sizes)

        elapsed = await wait_for(feeds_full, 600, "the pushed candidates")
        writes = sc.push_authors * sc.posts_per_author * sc.viewers
        e2e_rate = writes / (time.perf_counter() - t0)
        click.echo(
            f"  fan-out end to end           {e2e_rate:12,.0f} candidate writes/s "
            f"({writes:,} writes in {elapsed:.1f} s; {e2e_rate / ceiling:.0%} of the ceiling)"
        )
        await wait_for(
            lambda: _tail_has(redis, k, graph.celebrities[-1], f"{graph.celebrities[-1]}-39"),
            120,
            "the celebrity posts",
        )

        click.echo(
            f"GET /v1/feed, limit 20, {expected} candidates + {sc.celebrities} celebrities "
            f"per viewer; naive fan-out on read beside it ..."
        )
        db = await conn.db()
        for level in sc.concurrency:
            lat, rps, dropped = await http_load(url, tokens, level, sc.requests)
            nlat, nrps = await naive_load(db, graph.viewers, level, max(100, sc.requests // 5))
            click.echo(
                f"  c={level:<3} feed   {_fmt(lat)}  {rps:8,.0f} req/s"
                + (f" ({dropped} connections dropped)" if dropped else "")
            )
            click.echo(
                f"  c={level:<3} naive  {_fmt(nlat)}  {nrps:8,.0f} req/s (in-process, no HTTP)"
            )
        # Last: a produce rate above what the worker sustains leaves a backlog behind.
        click.echo(
            f"post-to-visible at {sc.rate:,.0f} posts/s for {sc.duration_s:.0f} s "
            f"({sc.rate_followers} followers each) ..."
        )
        latencies, produced = await post_to_visible(conn, producer, graph, sc.rate, sc.duration_s)
        click.echo(
            f"  post-to-visible              {_fmt(latencies)}  "
            f"(produced {produced:,.0f} posts/s; poll every 5 ms)"
        )

    finally:
        producer.close()
        await conn.close()


async def _tail_has(redis: Any, k: Any, author: str, post_id: str) -> bool:
    return await redis.zscore(k.author_posts(author), post_id) is not None
