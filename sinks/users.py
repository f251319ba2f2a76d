"""Project profiles to Cassandra (durable) and Redis (serving cache).

Both writes are idempotent and order-safe: Cassandra takes ``occurred_at`` as the
write timestamp (last write wins by event time), and Redis replaces the cached
profile only when the incoming one is at least as new.
"""

from __future__ import annotations

from clients.redis import pipelined
from schemas.events import ProfileUpdated
from sinks.connections import Connections
from sinks.scripts import HSET_IF_NEWER

_UPSERT = (
    "INSERT INTO users (user_id, username, display_name, is_private, updated_at, event_id) "
    "VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)


async def write_profile(conn: Connections, event: ProfileUpdated) -> None:
    micros = int(event.occurred_at.timestamp() * 1_000_000)
    await conn.execute(
        _UPSERT,
        (
            event.user_id,
            event.username,
            event.display_name,
            event.is_private,
            event.occurred_at,
            event.event_id,
            micros,
        ),
    )
    await conn.redis().eval(
        HSET_IF_NEWER,
        1,
        conn.keys.user(event.user_id),
        str(event.occurred_ms),
        "username",
        event.username,
        "display_name",
        event.display_name,
        "is_private",
        "1" if event.is_private else "0",
    )


async def rebuild_profiles(conn: Connections) -> int:
    """Refill every cached profile from Cassandra; returns how many were written."""
    db = await conn.db()
    rows = await db.scan(
        "SELECT user_id, username, display_name, is_private, updated_at FROM users"
    )
    await pipelined(
        conn.redis(),
        [
            lambda p, r=row: p.eval(
                HSET_IF_NEWER,
                1,
                conn.keys.user(r.user_id),
                str(int(r.updated_at.timestamp() * 1000) if r.updated_at else 0),
                "username",
                r.username or "",
                "display_name",
                r.display_name or "",
                "is_private",
                "1" if r.is_private else "0",
            )
            for row in rows
        ],
    )
    return len(rows)
