"""``photostream bench ...``: each scenario lives in ``bench/`` and prints its figures."""

from __future__ import annotations

import importlib

import click

# scenario -> "module:attribute" of a click command; loaded on use.
SCENARIOS: dict[str, tuple[str, str]] = {
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
    "recovery": (
        "bench.recovery:recovery",
        "Restart-to-serving time as the engagement state grows vs raw changelog consume.",
    ),
    "trending": (
        "bench.trending:trending",
        "Hashtag events/s of one worker vs raw consume; post-to-trending latency.",
    ),
}


class _Scenarios(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SCENARIOS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SCENARIOS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Scenarios"):
            formatter.write_dl([(name, SCENARIOS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=_Scenarios)
def bench() -> None:
    """Benchmarks against the real services; every figure is printed beside a reference."""
