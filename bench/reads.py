"""``photostream bench reads``: the API's pages under ``wrk``, beside its own no-I/O route.

The state is built through Kafka and the worker, as users would: ``--viewers`` viewers
each follow ``--authors`` ordinary authors (``--posts`` posts each, so authors × posts
candidates per feed) and ``--celebrities`` celebrities (pulled at read time), and the
celebrities post stories. Then ``wrk`` (a C load generator, not Python on these cores)
drives each route at fixed connection counts, every request as one of the viewers in
turn, and the same run measures ``GET /livez`` (no store touched: the framework's
ceiling) so every figure stands beside its ratio to it. Then ``vegeta`` (Go; ``make
bench-tools``) offers each route fixed rates, shares of what it served closed loop, open
loop: requests keep coming while the server is slow, so queueing shows in the tail.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import httpx

from bench.harness import BenchNamespace

# wrk: one token per request in turn, and a JSON line of figures at the end.
_LUA = """
local tokens = {%(tokens)s}
local paths = {%(paths)s}
local n = 0
request = function()
  n = n + 1
  local i = (n %% #tokens) + 1
  local headers = {}
  headers["Authorization"] = "Bearer " .. tokens[i]
  return wrk.format("GET", paths[(n %% #paths) + 1], headers)
end
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "errors": %%d, "non2xx": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def wrk(
    url: str, paths: list[str], tokens: list[str], *, connections: int, seconds: int
) -> dict[str, float]:
    """Run wrk against ``url`` + each of ``paths`` in turn; its figures as a dict."""
    if shutil.which("wrk") is None:
        raise click.ClickException("wrk is not installed (make setup installs it)")
    script = _LUA % {
        "tokens": ", ".join(json.dumps(t) for t in tokens),
        "paths": ", ".join(json.dumps(p) for p in paths),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "-s", f.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(f.name).unlink()
    figures = json.loads(re.findall(r"^\{.*\}$", out, re.M)[-1])
    seconds_run = figures["duration_us"] / 1e6
    return {
        "rate": figures["requests"] / seconds_run,
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "errors": figures["errors"] + figures["non2xx"],
    }


# Where ``make bench-tools`` installs the open-loop load generator.
VEGETA = Path(__file__).resolve().parent.parent / ".tools" / "bin" / "vegeta"


def vegeta(
    url: str, paths: list[str], tokens: list[str], *, rate: float, seconds: int
) -> dict[str, float]:
    """Offer ``rate`` requests/s whatever the answers (open loop: a slow server meets a
    queue, not a politer client), with vegeta (Go, not Python on these cores)."""
    binary = str(VEGETA) if VEGETA.exists() else shutil.which("vegeta")
    if binary is None:
        raise click.ClickException("vegeta is not installed: run `make bench-tools`")
    targets = "\n".join(
        f"GET {url}{paths[i % len(paths)]}\nAuthorization: Bearer {tokens[i % len(tokens)]}\n"
        for i in range(max(len(paths), len(tokens)))
    )
    attack = subprocess.run(
        [
            binary,
            "attack",
            f"-rate={max(1, round(rate))}/s",
            f"-duration={seconds}s",
            "-timeout=30s",
            "-max-workers=512",
        ],
        input=targets.encode(),
        capture_output=True,
        check=True,
    )
    report = subprocess.run(
        [binary, "report", "-type=json"],
        input=attack.stdout,
        capture_output=True,
        check=True,
    )
    figures = json.loads(report.stdout)
    latencies = figures["latencies"]
    codes = figures.get("status_codes") or {}
    return {
        "offered": rate,
        "rate": figures["throughput"],
        "p50_ms": latencies["50th"] / 1e6,
        "p99_ms": latencies["99th"] / 1e6,
        "errors": sum(n for code, n in codes.items() if not code.startswith("2")),
    }


def _events(viewers: int, authors: int, posts: int, celebrities: int) -> list[dict[str, object]]:
    base = datetime.now(UTC) - timedelta(hours=2)
    events: list[dict[str, object]] = []
    users = (
        [f"v{i}" for i in range(viewers)]
        + [f"a{i}" for i in range(authors)]
        + [f"c{i}" for i in range(celebrities)]
    )
    for user in users:
        events.append(
            {
                "type": "profile_updated",
                "user_id": user,
                "username": user,
                "display_name": user.upper(),
                "is_private": False,
            }
        )
    for v in range(viewers):
        events += [
            {"type": "follow", "user_id": f"v{v}", "target_id": f"a{a}"} for a in range(authors)
        ]
        events += [
            {"type": "follow", "user_id": f"v{v}", "target_id": f"c{c}"} for c in range(celebrities)
        ]
    n = 0
    for p in range(posts):
        for a in range(authors):
            n += 1
            events.append(
                {
                    "type": "post_created",
                    "user_id": f"a{a}",
                    "post_id": f"pa{a}-{p}",
                    "caption": f"#tag{p % 20} post {p} of a{a}",
                    "media": [],
                    "occurred_at": (base + timedelta(milliseconds=10 * n)).isoformat(),
                }
            )
    for p in range(40):
        for c in range(celebrities):
            n += 1
            events.append(
                {
                    "type": "post_created",
                    "user_id": f"c{c}",
                    "post_id": f"pc{c}-{p}",
                    "caption": f"#star post {p}",
                    "media": [],
                    "occurred_at": (base + timedelta(milliseconds=10 * n)).isoformat(),
                }
            )
        events += [
            {
                "type": "story_created",
                "user_id": f"c{c}",
                "story_id": f"s{c}-{p}",
                "media_id": f"m{c}-{p}",
                "close_friends_only": False,
            }
            for c in range(celebrities)
            if p < 3
        ]
    return events


async def _wait_sizes(
    ns: BenchNamespace, sizes: dict[str, int], what: str, timeout_s: float
) -> None:
    """Until every set or sorted set named in ``sizes`` holds at least its count (a
    ``following:`` key is a set, every other one a sorted set)."""
    from clients.redis import connect

    redis = connect(ns.settings)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            async with redis.pipeline(transaction=False) as pipe:
                for key in sizes:
                    (pipe.scard if ":following:" in key else pipe.zcard)(key)
                have = await pipe.execute()
            if all(n >= want for n, want in zip(have, sizes.values(), strict=True)):
                return
            await asyncio.sleep(0.5)
    finally:
        await redis.aclose()
    raise click.ClickException(f"{what} did not complete in {timeout_s:.0f} s")


@click.command()
@click.option("--viewers", default=50, show_default=True)
@click.option(
    "--authors", default=25, show_default=True, help="Ordinary authors every viewer follows."
)
@click.option("--posts", default=20, show_default=True, help="Posts per ordinary author.")
@click.option("--celebrities", default=5, show_default=True)
@click.option("--connections", default="1,64", show_default=True, help="wrk connection counts.")
@click.option("--seconds", default=10, show_default=True, help="wrk seconds per route and count.")
@click.option(
    "--open-loop",
    default="0.5,0.9",
    show_default=True,
    help="Offered rates, as shares of each route's closed-loop rate at the most "
    "connections, driven open loop by vegeta ('' to skip).",
)
@click.option("--api-workers", default=1, show_default=True, help="API processes.")
def reads(
    viewers: int,
    authors: int,
    posts: int,
    celebrities: int,
    connections: str,
    seconds: int,
    open_loop: str,
    api_workers: int,
) -> None:
    """Feed, post, tray and trending reads under wrk, each beside GET /livez."""
    from api.auth import issue_token, load_secret
    from bench.engagement import _produce
    from clients.kafka import EventProducer
    from schemas.redis_keys import RedisKeys

    counts = [int(c) for c in connections.split(",")]
    with BenchNamespace("benchreads") as ns:
        # Ordinary authors stay below the threshold, celebrities above it.
        threshold = viewers + 1
        ns.settings = ns.settings.model_copy(update={"celebrity_threshold": threshold})
        ns.env["PHOTOSTREAM_CELEBRITY_THRESHOLD"] = str(threshold)
        producer = EventProducer(ns.settings)
        ns.start_worker()
        url = ns.start_api(workers=api_workers)
        events = _events(viewers, authors, posts, celebrities)
        click.echo(f"namespace {ns.name}: {len(events):,} events through the worker ...")
        # Celebrities need followers beyond the viewers to pass the threshold.
        fans = [
            {"type": "follow", "user_id": f"fan{i}", "target_id": f"c{c}"}
            for c in range(celebrities)
            for i in range(threshold)
        ]
        _produce(producer, events[: viewers + authors + celebrities] + fans)
        _produce(producer, events[viewers + authors + celebrities :])
        keys = RedisKeys(ns.name)
        # The graph and every post first: a viewer's first read then finds them all.
        asyncio.run(
            _wait_sizes(
                ns,
                {keys.following(f"v{v}"): authors + celebrities for v in range(viewers)}
                | {keys.author_posts(f"a{a}"): posts for a in range(authors)},
                "the graph and the posts",
                600,
            )
        )
        secret = load_secret(ns.settings)
        tokens = [issue_token(f"v{v}", secret=secret, ttl_s=3600) for v in range(viewers)]
        for token in tokens:  # a first read each: the worker builds the stored feed
            httpx.get(f"{url}/v1/feed", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        asyncio.run(
            _wait_sizes(
                ns,
                {keys.feed(f"v{v}"): authors * posts for v in range(viewers)},
                "the feeds",
                600,
            )
        )
        routes = {
            "GET /livez (no I/O)": ["/livez"],
            "GET /v1/feed?limit=20": ["/v1/feed?limit=20"],
            "GET /v1/posts/{id}": [
                f"/v1/posts/pa{a}-{p}" for a in range(authors) for p in range(0, posts, 5)
            ],
            "GET /v1/stories/tray": ["/v1/stories/tray"],
            "GET /v1/trending/hashtags": ["/v1/trending/hashtags?window=24h"],
        }
        rows = []
        for count in counts:
            for name, paths in routes.items():
                figures = wrk(url, paths, tokens, connections=count, seconds=seconds)
                rows.append((count, name, figures))
                click.echo(
                    f"  {count:>3} conns  {name:<28} {figures['rate']:>9,.0f} req/s  "
                    f"p50 {figures['p50_ms']:6.1f} ms  p99 {figures['p99_ms']:7.1f} ms  "
                    f"errors {figures['errors']:.0f}"
                )
        most = max(counts)
        shares = [float(x) for x in open_loop.split(",") if x.strip()]
        opened = []
        for share in shares:
            for name, paths in routes.items():
                closed = next(f["rate"] for c, n, f in rows if c == most and n == name)
                figures = vegeta(url, paths, tokens, rate=share * closed, seconds=seconds)
                opened.append((share, name, figures))
                click.echo(
                    f"  open {share:.0%}  {name:<28} offered {figures['offered']:>8,.0f}/s  "
                    f"served {figures['rate']:>8,.0f}/s  p50 {figures['p50_ms']:6.1f} ms  "
                    f"p99 {figures['p99_ms']:7.1f} ms  errors {figures['errors']:.0f}"
                )
    click.echo("")
    click.echo(
        f"{'conns':>5}  {'route':<28} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>8}  share of /livez"
    )
    for count in counts:
        ceiling = next(f["rate"] for c, n, f in rows if c == count and n.startswith("GET /livez"))
        for c, name, f in rows:
            if c == count:
                click.echo(
                    f"{c:>5}  {name:<28} {f['rate']:>9,.0f} {f['p50_ms']:>7.1f} {f['p99_ms']:>8.1f}"
                    f"  {f['rate'] / ceiling:6.1%}"
                )
    if opened:
        click.echo("")
        click.echo(
            f"open loop: each route offered a share of its own {most}-connection rate "
            "(vegeta), /livez the same share of its own"
        )
        click.echo(
            f"{'share':>5}  {'route':<28} {'offered/s':>9} {'served/s':>9} "
            f"{'p50 ms':>7} {'p99 ms':>8}"
        )
        for share, name, f in opened:
            click.echo(
                f"{share:>5.0%}  {name:<28} {f['offered']:>9,.0f} {f['rate']:>9,.0f} "
                f"{f['p50_ms']:>7.1f} {f['p99_ms']:>8.1f}"
            )
