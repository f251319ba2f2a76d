"""Rebuild the Redis serving cache from the durable views (principle 2).

Every concern that caches in Redis registers one coroutine here; each must write
the same values the live sinks write, so a rebuild is indistinguishable from a replay.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sinks.connections import Connections
from sinks.engagement import rebuild_engagement
from sinks.feeds import rebuild_feeds
from sinks.graph import rebuild_graph
from sinks.media import rebuild_media
from sinks.posts import rebuild_posts
from sinks.stories import rebuild_stories
from sinks.trending import rebuild_trending
from sinks.users import rebuild_profiles

Rebuilder = Callable[[Connections], Awaitable[int]]

REBUILDERS: dict[str, Rebuilder] = {
    "profiles": rebuild_profiles,
    # Order matters: feeds merge the author tails and skip the celebrities rebuilt before.
    "graph": rebuild_graph,
    "posts": rebuild_posts,
    "feeds": rebuild_feeds,
    "media": rebuild_media,
    # After the graph: trays are fanned out to the followers it restored.
    "stories": rebuild_stories,
    "trending": rebuild_trending,
    # Counts and saved lists; likers sets are re-projected by the worker on recovery.
    "engagement": rebuild_engagement,
}
