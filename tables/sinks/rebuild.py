"""Rebuild the Redis serving cache from the durable views (principle 2).

Every concern that caches in Redis registers one coroutine here; each must write
the same values the live sinks write, so a rebuild is indistinguishable from a replay.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tables.sinks.connections import Connections
from tables.sinks.users import rebuild_profiles

Rebuilder = Callable[[Connections], Awaitable[int]]

REBUILDERS: dict[str, Rebuilder] = {
    "profiles": rebuild_profiles,
}
