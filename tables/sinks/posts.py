"""Project posts to Cassandra and Redis, and hand ready posts to the fan-out.

Every write carries the record's ``version`` (microseconds that only grow per post):
Cassandra rows use it as the write timestamp and the Redis hash is replaced only by a
newer version, so a replay or a late sink never rolls a deleted post back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from domain.posts import DELETED, READY
from tables.sinks.connections import Connections
from tables.sinks.feeds import project_post
from tables.sinks.scripts import HSET_IF_NEWER

_INSERT = (
    "INSERT INTO posts (post_id, author_id, caption, media, created_at, state, reason, event_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
_UPDATE_STATE = "UPDATE posts USING TIMESTAMP ? SET state = ?, reason = ? WHERE post_id = ?"
_BY_AUTHOR = (
    "INSERT INTO posts_by_author (author_id, created_at, post_id) VALUES (?, ?, ?) "
    "USING TIMESTAMP ?"
)
_UNBY_AUTHOR = (
    "DELETE FROM posts_by_author USING TIMESTAMP ? "
    "WHERE author_id = ? AND created_at = ? AND post_id = ?"
)
_POSTS_COUNT = "UPDATE user_counts SET posts = ? WHERE user_id = ?"


def _ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def write_post(
    conn: Connections,
    *,
    post_id: str,
    record: Mapping[str, Any],
    post_count: int,
    caption: str | None = None,
    media: Sequence[Mapping[str, Any]] | None = None,
    event_id: str | None = None,
) -> int:
    """Project a post's record: Redis first (visible at once), then the durable rows.

    ``caption``/``media`` are given with the creating event only; later state changes
    update the state alone. Returns followers pushed to (-1 celebrity, -2 stale).
    """
    media_json = orjson.dumps([dict(m) for m in media or ()]).decode()
    pushed = await project_post(
        conn,
        post_id=post_id,
        record=record,
        post_count=post_count,
        caption=caption,
        media_json=media_json,
    )
    author, state, version = record["author_id"], record["state"], int(record["version"])
    created = _ms_to_dt(int(record["created_ms"]))
    writes: list[tuple[str, tuple[Any, ...]]] = [(_POSTS_COUNT, (post_count, author))]
    if caption is not None:
        writes.append(
            (
                _INSERT,
                (
                    post_id,
                    author,
                    caption,
                    media_json,
                    created,
                    state,
                    record.get("reason"),
                    event_id,
                    version,
                ),
            )
        )
    else:
        writes.append((_UPDATE_STATE, (version, state, record.get("reason"), post_id)))
    if state == READY:
        writes.append((_BY_AUTHOR, (author, created, post_id, version)))
    elif state == DELETED and int(record["created_ms"]):
        writes.append((_UNBY_AUTHOR, (version, author, created, post_id)))
    await (await conn.db()).execute_together(writes)
    return pushed


async def rebuild_posts(conn: Connections) -> int:
    """Refill post hashes, author tails and pending lists from Cassandra."""

    db = await conn.db()
    redis = conn.redis()
    k = conn.keys
    cap = conn.settings.author_posts_cap
    written = 0
    counts: dict[str, int] = {}
    rows = await db.scan(
        "SELECT post_id, author_id, caption, media, created_at, state, reason, "
        "WRITETIME(state) AS version FROM posts",
    )
    for row in rows:
        created_ms = int(row.created_at.replace(tzinfo=UTC).timestamp() * 1000)
        await redis.eval(
            HSET_IF_NEWER,
            1,
            k.post(row.post_id),
            str(row.version or 0),
            "author_id",
            row.author_id or "",
            "caption",
            row.caption or "",
            "media",
            row.media or "[]",
            "created_at",
            str(created_ms),
            "state",
            row.state or "",
            "reason",
            row.reason or "",
        )
        if row.state == READY:
            await redis.zadd(k.author_posts(row.author_id), {row.post_id: created_ms})
            await redis.zadd(k.recent_posts(), {row.post_id: created_ms})
        elif row.state != DELETED:
            await redis.zadd(k.author_pending(row.author_id), {row.post_id: created_ms})
        if row.state != DELETED:
            counts[row.author_id] = counts.get(row.author_id, 0) + 1
        written += 1
    for author in counts:
        await redis.zremrangebyrank(k.author_posts(author), 0, -(cap + 1))
        await redis.hset(k.user_counts(author), "posts", counts[author])
    await redis.zremrangebyrank(k.recent_posts(), 0, -(cap + 1))
    return written
