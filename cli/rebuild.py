"""``photostream rebuild``: refill Redis from Cassandra, proving it is only a cache."""

from __future__ import annotations

import asyncio
import time

import click


@click.command()
@click.option("--flush", is_flag=True, help="Delete this namespace's Redis keys first.")
def rebuild(flush: bool) -> None:
    """Rebuild every Redis view of this namespace from Cassandra."""
    from settings import get_settings
    from sinks.connections import Connections
    from sinks.rebuild import REBUILDERS
    from sinks.search import rebuild_search

    async def run() -> None:
        conn = Connections(get_settings())
        try:
            if flush:
                deleted = 0
                async for key in conn.redis().scan_iter(match=conn.keys.all_pattern(), count=1000):
                    deleted += await conn.redis().delete(key)
                click.echo(f"deleted {deleted} Redis keys")
            # Search last: it ranks by the follower counts the graph's rebuild restored.
            for name, rebuilder in {**REBUILDERS, "search": rebuild_search}.items():
                started = time.monotonic()
                count = await rebuilder(conn)
                click.echo(f"{name}: {count} rebuilt in {time.monotonic() - started:.1f} s")
        finally:
            await conn.close()

    asyncio.run(run())
