"""``photostream bench ...``: each scenario lives in ``bench/`` and prints its figures."""

from __future__ import annotations

import click

from cli.lazy import LazyEntries, LazyGroup

# scenario -> ("module:attribute" of a click command, help shown without importing it).
SCENARIOS: LazyEntries = {
    "engagement": (
        "bench.engagement:engagement",
        "Exact like counts: likes/s (uniform, hot post), writes/like, freshness vs raw consumer.",
    ),
    "media": ("bench.media:media", "Photo variants per 12 MP upload vs decode floor and naive."),
    "feed": (
        "bench.feed:feed",
        "Fan-out, post-to-visible and GET /v1/feed vs redis-benchmark ZADD and naive fan-out on read.",
    ),
    "stories": (
        "bench.stories:stories",
        "Tray reads at 64 clients (500 followed authors) vs raw Redis reads of the same keys.",
    ),
    "reads": (
        "bench.reads:reads",
        "Feed, post, tray and trending reads under wrk vs the API's own no-I/O route.",
    ),
    "recovery": (
        "bench.recovery:recovery",
        "Restart-to-serving time as the engagement state grows vs raw changelog consume.",
    ),
    "search": (
        "bench.search:search",
        "Search p50/p99 by query length under wrk vs /livez; memory; freshness.",
    ),
    "trending": (
        "bench.trending:trending",
        "Hashtag events/s of one worker vs raw consume; post-to-trending latency.",
    ),
}


@click.group(cls=LazyGroup, entries=SCENARIOS, section="Scenarios")
def bench() -> None:
    """Benchmarks against the real services; every figure is printed beside a reference."""
