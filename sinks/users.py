"""Project profiles to Cassandra (durable) and Redis (serving cache).

Both writes are idempotent and order-safe: Cassandra takes ``occurred_at`` as the
write timestamp (last write wins by event time), and Redis replaces the cached
profile only when the incoming one is at least as new.
"""

from __future__ import annotations

from collections.abc import Sequence

from clients.redis import pipelined
from domain.clock import to_micros, to_ms
from schemas.events import ProfileUpdated
from schemas.redis_hashes import ProfileHash
from sinks.connections import Connections
from sinks.scripts import FOREVER_MS, HSET_IF_NEWER

_UPSERT = (
    "INSERT INTO users (user_id, username, display_name, is_private, bio, updated_at, event_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)


async def write_profile(conn: Connections, event: ProfileUpdated) -> bool:
    """The profile, durably and in the cache; whether the cache now holds this version
    (False: a newer change was already there, so this one is history)."""
    micros = to_micros(event.occurred_at)
    await conn.execute(
        _UPSERT,
        (
            event.user_id,
            event.username,
            event.display_name,
            event.is_private,
            event.bio,
            event.occurred_at,
            event.event_id,
            micros,
        ),
    )
    shape = ProfileHash(event.username, event.display_name, event.is_private, event.bio)
    applied = await HSET_IF_NEWER(
        conn.redis(), [conn.keys.user(event.user_id)], [str(event.occurred_ms), *shape.fields()]
    )
    return bool(applied)


async def write_profiles(conn: Connections, events: Sequence[ProfileUpdated]) -> list[bool]:
    """``write_profile`` of many events: the rows as UNLOGGED batches, the cache as one
    pipeline in order; per event, whether the cache now holds its version."""
    if not events:
        return []
    db = await conn.db()
    await db.execute_unlogged(
        _UPSERT,
        [
            (
                e.user_id,
                e.username,
                e.display_name,
                e.is_private,
                e.bio,
                e.occurred_at,
                e.event_id,
                to_micros(e.occurred_at),
            )
            for e in events
        ],
    )
    replies = await pipelined(
        conn.redis(),
        [
            lambda p, e=e: HSET_IF_NEWER.queue(
                p,
                [conn.keys.user(e.user_id)],
                [
                    str(e.occurred_ms),
                    *ProfileHash(e.username, e.display_name, e.is_private, e.bio).fields(),
                ],
            )
            for e in events
        ],
    )
    return [bool(r) for r in replies]


async def rebuild_profiles(conn: Connections) -> int:
    """Refill every cached profile from Cassandra; returns how many were written."""
    db = await conn.db()
    rows = await db.scan(
        "SELECT user_id, username, display_name, is_private, bio, deleted, updated_at FROM users"
    )
    await pipelined(
        conn.redis(),
        [
            lambda p, r=row: HSET_IF_NEWER.queue(
                p,
                [conn.keys.user(r.user_id)],
                [
                    # A deleted account's tombstone keeps the version no event beats.
                    str(FOREVER_MS if r.deleted else to_ms(r.updated_at) if r.updated_at else 0),
                    *ProfileHash(
                        r.username or "",
                        r.display_name or "",
                        bool(r.is_private),
                        r.bio or "",
                        deleted=bool(r.deleted),
                    ).fields(),
                ],
            )
            for row in rows
        ],
    )
    return len(rows)
