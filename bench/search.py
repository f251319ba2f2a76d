"""``photostream bench search``: as-you-type queries under ``wrk``, index memory, freshness.

``--users`` profiles (a syllable username and a "First Last" display name each),
``--follows`` follows skewed towards a few accounts, and ``--tags`` hashtags
(``--tags-per-post`` per post) go through Kafka and the worker. Then ``wrk`` (reused
from ``bench.reads``) drives 1-, 2- and 5-character queries (``type=all``, as the
viewers in turn) at each connection count, beside ``GET /livez`` under the same load
(no store touched: the framework's ceiling); the index's Redis memory is divided by
the entries it holds, beside the bytes of the terms themselves; and new users are
produced one at a time and searched for until found, beside the moment the same
event's profile card is served (the users agent's path, no index). The worker is stopped
while ``wrk`` runs (``--busy-worker`` keeps it): with 100,000 active tags its trending
recount holds a core and Redis for seconds every 2 s, which is not search's cost.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import click
import httpx

from bench.harness import BenchNamespace, percentile
from bench.reads import wrk

_SYLLABLES = [
    "ka",
    "mo",
    "ru",
    "li",
    "na",
    "to",
    "be",
    "sa",
    "ri",
    "do",
    "el",
    "an",
    "mi",
    "ko",
    "ta",
    "ne",
    "ra",
    "so",
    "ju",
    "va",
    "pe",
    "lo",
    "zi",
    "ha",
    "yu",
    "di",
    "fe",
    "gu",
    "ba",
    "lu",
    "ma",
    "ni",
    "te",
    "ro",
    "se",
    "ki",
    "ho",
    "ga",
    "wa",
    "re",
    "co",
    "da",
    "fi",
    "ly",
    "ze",
    "xo",
    "qu",
    "ar",
    "en",
]
_FIRST = [
    "Ada",
    "Alan",
    "Ana",
    "Ben",
    "Bea",
    "Carl",
    "Cleo",
    "Dan",
    "Dora",
    "Eli",
    "Emma",
    "Finn",
    "Gia",
    "Hugo",
    "Ida",
    "Ivan",
    "Jade",
    "Jon",
    "Kai",
    "Lea",
    "Leo",
    "Lina",
    "Max",
    "Mia",
    "Nils",
    "Nora",
    "Olga",
    "Omar",
    "Pia",
    "Raj",
    "Rosa",
    "Sam",
    "Sara",
    "Tom",
    "Uma",
    "Vera",
    "Wim",
    "Xena",
    "Yara",
    "Zoë",
    "José",
    "Åsa",
    "Søren",
    "Ülkü",
    "Renée",
]
_LAST = [
    "Smith",
    "Jones",
    "Garcia",
    "Müller",
    "Rossi",
    "Dubois",
    "Silva",
    "Kim",
    "Chen",
    "Ivanova",
    "Novak",
    "Jensen",
    "Costa",
    "Moreau",
    "Weber",
    "Ortiz",
    "Sato",
    "Tanaka",
    "Haddad",
    "Nowak",
    "Horvat",
    "Berg",
    "Lindqvist",
    "Okafor",
    "Mensah",
    "Kowalski",
    "Brennan",
    "Duarte",
    "Ferreira",
    "Ahmed",
    "Patel",
    "Singh",
    "Nguyen",
    "Tran",
    "Larsen",
    "Fischer",
]


def _name(rng: random.Random, i: int) -> str:
    syllables = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
    return f"{syllables}{i}"


def _workload(users: int, follows: int, tags: int, per_post: int) -> dict[str, list[Any]]:
    rng = random.Random(14)
    names = [_name(rng, i) for i in range(users)]
    profiles = [
        {
            "type": "profile_updated",
            "user_id": f"u{i}",
            "username": names[i],
            "display_name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            "is_private": rng.random() < 0.1,
        }
        for i in range(users)
    ]
    edges = set()
    while len(edges) < follows:
        follower = rng.randrange(users)
        target = int(users * rng.random() ** 4)  # a few accounts gather most follows
        if follower != target:
            edges.add((follower, target))
    graph = [{"type": "follow", "user_id": f"u{a}", "target_id": f"u{b}"} for a, b in edges]
    tag_names = [_name(rng, i) for i in range(tags)]
    posts = [
        {
            "type": "post_created",
            # Authors nobody follows: the posts cost no fan-out, only their tags count.
            "user_id": f"tagger{start % 50}",
            "post_id": f"p{start}",
            "caption": " ".join(f"#{t}" for t in tag_names[start : start + per_post]),
            "media": [],
        }
        for start in range(0, tags, per_post)
    ]
    return {"names": names, "profiles": profiles, "graph": graph, "posts": posts, "tags": tag_names}


async def _index_sizes(ns: BenchNamespace) -> tuple[int, int]:
    from clients.redis import connect
    from schemas.redis_keys import RedisKeys

    redis, keys = connect(ns.settings), RedisKeys(ns.name)
    try:
        return (
            int(await redis.hlen(keys.search_user_terms())),
            int(await redis.zcard(keys.search_tags())),
        )
    finally:
        await redis.aclose()


def _wait_index(ns: BenchNamespace, users: int, tags: int, *, timeout_s: float) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        have = asyncio.run(_index_sizes(ns))
        if have[0] >= users and have[1] >= tags:
            return
        time.sleep(1.0)
    raise click.ClickException(f"the index holds {have} of ({users}, {tags}) after {timeout_s} s")


async def _memory(ns: BenchNamespace) -> tuple[int, int, int]:
    """(bytes of every search key, keys, bytes of the indexed strings themselves)."""
    from clients.redis import connect
    from schemas.redis_keys import SEARCH_TERM_SEPARATOR, SEARCH_TERMS_JOIN, RedisKeys

    redis, keys = connect(ns.settings), RedisKeys(ns.name)
    try:
        pattern = keys.all_pattern().removesuffix("*") + "search:*"
        found = [k async for k in redis.scan_iter(match=pattern, count=1000)]
        async with redis.pipeline(transaction=False) as pipe:
            for key in found:
                pipe.memory_usage(key, samples=0)
            sizes = await pipe.execute()
        terms = await redis.hgetall(keys.search_user_terms())
        raw = sum(
            len(u) + sum(len(t.encode()) for t in v.split(SEARCH_TERMS_JOIN)[1:])
            for u, v in terms.items()
        )
        tags = await redis.zrange(keys.search_tags(), 0, -1)
        raw += sum(len(m.partition(SEARCH_TERM_SEPARATOR)[0].encode()) for m in tags)
        return sum(int(s or 0) for s in sizes), len(found), raw
    finally:
        await redis.aclose()


def _freshness(
    url: str, producer: Any, token: str, n: int, timeout_s: float = 10.0
) -> tuple[list[float], list[float]]:
    """Event -> searchable and event -> profile served (ms), one new user at a time."""
    from bench.engagement import _produce

    headers = {"Authorization": f"Bearer {token}"}
    searchable, profiled = [], []
    with httpx.Client(base_url=url, headers=headers, timeout=5) as http:
        for i in range(n):
            user, name = f"fresh{i}", f"zzfresh{i}x{random.randrange(10**6)}"
            event = {"type": "profile_updated", "user_id": user, "username": name}
            event |= {"display_name": "Fresh Face", "is_private": False}
            sent = time.monotonic()
            _produce(producer, [event])
            found: dict[str, float] = {}
            while len(found) < 2 and time.monotonic() - sent < timeout_s:
                if "profile" not in found and http.get(f"/v1/users/{user}").status_code == 200:
                    found["profile"] = time.monotonic()
                if "search" not in found:
                    r = http.get("/v1/search", params={"q": name, "type": "users"})
                    if r.status_code == 200 and r.json()["data"]:
                        found["search"] = time.monotonic()
                time.sleep(0.005)
            searchable.append((found.get("search", sent + timeout_s) - sent) * 1000)
            profiled.append((found.get("profile", sent + timeout_s) - sent) * 1000)
    return searchable, profiled


@click.command()
@click.option("--users", default=100_000, show_default=True)
@click.option("--tags", default=100_000, show_default=True)
@click.option("--tags-per-post", default=20, show_default=True)
@click.option("--follows", default=50_000, show_default=True)
@click.option("--connections", default="1,64", show_default=True, help="wrk connection counts.")
@click.option("--seconds", default=10, show_default=True, help="wrk seconds per query set.")
@click.option("--api-workers", default=1, show_default=True, help="API processes.")
@click.option("--fresh", default=100, show_default=True, help="New users timed to searchable.")
@click.option(
    "--quiet-worker/--busy-worker",
    default=True,
    show_default=True,
    help="Stop the worker while wrk runs (the trending recount of 100,000 tags holds Redis "
    "and a core every 2 s), start it again for the freshness figures.",
)
def search(
    users: int,
    tags: int,
    tags_per_post: int,
    follows: int,
    connections: str,
    seconds: int,
    api_workers: int,
    fresh: int,
    quiet_worker: bool,
) -> None:
    """Search p50/p99 by query length under wrk beside /livez; memory; event -> searchable."""
    from api.auth import issue_token, load_secret
    from bench.engagement import _produce
    from clients.kafka import EventProducer

    counts = [int(c) for c in connections.split(",")]
    work = _workload(users, follows, tags, tags_per_post)
    with BenchNamespace("benchsearch") as ns:
        producer = EventProducer(ns.settings)
        worker = ns.start_worker()
        url = ns.start_api(workers=api_workers)
        click.echo(
            f"namespace {ns.name}: {users:,} users, {follows:,} follows, {tags:,} tags "
            f"in {len(work['posts']):,} posts through the worker ..."
        )
        # Users first, then the tags: each phase's rate is its own.
        for phase, events, want in (
            ("users and follows", work["profiles"] + work["graph"], (users, 0)),
            ("tags", work["posts"], (users, tags)),
        ):
            started = time.monotonic()
            _produce(producer, events)
            _wait_index(ns, *want, timeout_s=3600)
            took = time.monotonic() - started
            click.echo(f"  {phase}: {len(events):,} events indexed in {took:.0f} s")
        time.sleep(2 * 2.0)  # one more popularity refresh of the last follows

        total, nkeys, raw = asyncio.run(_memory(ns))
        entries = users + tags
        click.echo(
            f"  index memory: {total / entries:,.0f} bytes per entry ({total / 2**20:,.1f} MiB "
            f"in {nkeys:,} keys for {entries:,} entries); the indexed strings themselves "
            f"{raw / entries:,.0f} bytes per entry (floor <= 300)"
        )

        rng = random.Random(7)
        secret = load_secret(ns.settings)
        viewers = [f"u{rng.randrange(users)}" for _ in range(100)]
        tokens = [issue_token(v, secret=secret, ttl_s=3600) for v in viewers]
        names = work["names"] + work["tags"]
        sets = {
            "GET /livez (no I/O)": ["/livez"],
            "search, 1 char": [f"/v1/search?q={c}&type=all" for c in "abcdefghiklmnoprstuvyz"],
            "search, 2 chars": [f"/v1/search?q={n[:2]}&type=all" for n in rng.sample(names, 200)],
            "search, 5 chars": [f"/v1/search?q={n[:5]}&type=all" for n in rng.sample(names, 200)],
        }
        if quiet_worker:
            worker.stop()
        click.echo(f"  wrk with the worker {'stopped' if quiet_worker else 'running'}")
        rows = []
        for count in counts:
            for name, paths in sets.items():
                figures = wrk(url, paths, tokens, connections=count, seconds=seconds)
                rows.append((count, name, figures))
                click.echo(
                    f"  {count:>3} conns  {name:<22} {figures['rate']:>9,.0f} req/s  "
                    f"p50 {figures['p50_ms']:6.1f} ms  p99 {figures['p99_ms']:7.1f} ms  "
                    f"errors {figures['errors']:.0f}"
                )
        if quiet_worker:
            ns.start_worker(timeout_s=600)
        searchable, profiled = _freshness(url, producer, tokens[0], fresh)
        producer.close()
    click.echo("")
    click.echo(f"{'conns':>5}  {'query':<22} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>8}  vs /livez")
    for count in counts:
        ceiling = next(f for c, n, f in rows if c == count and n.startswith("GET /livez"))
        for c, name, f in rows:
            if c == count:
                click.echo(
                    f"{c:>5}  {name:<22} {f['rate']:>9,.0f} {f['p50_ms']:>7.1f} {f['p99_ms']:>8.1f}"
                    f"  {f['rate'] / ceiling['rate']:6.1%} of its rate, p99 +"
                    f"{f['p99_ms'] - ceiling['p99_ms']:.1f} ms"
                )
    click.echo(
        f"event -> searchable ({fresh} new users): p50 {percentile(searchable, 50):,.0f} ms, "
        f"p99 {percentile(searchable, 99):,.0f} ms (floor p99 <= 1,000 ms); the same events' "
        f"profile served: p50 {percentile(profiled, 50):,.0f} ms, "
        f"p99 {percentile(profiled, 99):,.0f} ms"
    )
