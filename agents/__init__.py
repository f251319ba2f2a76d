"""Every Faust agent, one module per concern; importing this package registers them all."""

from __future__ import annotations

from agents import engagement, erasure, feeds, graph, media, posts, search, stories, trending, users

__all__ = [
    "engagement",
    "erasure",
    "feeds",
    "graph",
    "media",
    "posts",
    "search",
    "stories",
    "trending",
    "users",
]
