"""Project posts to Cassandra and Redis, and hand ready posts to the fan-out.

Every write carries the record's ``version`` (microseconds that only grow per post):
Cassandra rows use it as the write timestamp and the Redis hash is replaced only by a
newer version, so a replay or a late sink never rolls a deleted post back.
``erase_posts`` removes every trace of an erased account's posts (content included),
once its grace period is over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from clients.lua import Lua
from clients.redis import pipelined
from domain.clock import from_ms, to_ms
from domain.posts import DELETED, READY
from domain.trending import parse_hashtags
from schemas.redis_hashes import PostHash
from sinks.connections import Connections
from sinks.feeds import project_posts
from sinks.scripts import HSET_IF_NEWER

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
_POSTS_OF = "SELECT post_id, caption FROM posts WHERE author_id = ?"
_TAG_ROWS = "SELECT tag, created_at, post_id FROM posts_by_hashtag WHERE author_id = ?"
_AUTHOR_ROW = "SELECT post_id FROM posts_by_author WHERE author_id = ? LIMIT 1"
_ERASE = (
    "DELETE FROM posts WHERE post_id = ?",
    "DELETE FROM post_stats WHERE post_id = ?",
    "DELETE FROM comments_by_post WHERE post_id = ?",
)
_ERASE_TAG_ROW = "DELETE FROM posts_by_hashtag WHERE tag = ? AND created_at = ? AND post_id = ?"
_ERASE_BY_AUTHOR = "DELETE FROM posts_by_author WHERE author_id = ?"

# The author out of a tag's users; a tag nobody uses any more leaves the trending
# candidates (its word came from the erased captions). Atomic against a new use (the
# trending sink's MULTI). KEYS: tag users, active tags; ARGV: author, tag.
_UNTAG = Lua("""
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1
""")


@dataclass(frozen=True)
class PostWrite:
    """One projection of a post's record; ``caption``/``media`` come with its creation
    only (later state changes update the state alone)."""

    post_id: str
    record: Mapping[str, Any]
    post_count: int
    caption: str | None = None
    media: Sequence[Mapping[str, Any]] | None = None
    event_id: str | None = None

    def shape(self) -> PostHash:
        r = self.record
        return PostHash(
            author_id=r["author_id"],
            state=r["state"],
            created_ms=int(r["created_ms"]),
            reason=r.get("reason"),
            caption=self.caption,
            media=tuple(dict(m) for m in self.media or ()),
        )

    def rows(self) -> list[tuple[str, tuple[Any, ...]]]:
        """The Cassandra writes, each at the record's version (the post count aside)."""
        r = self.record
        author, state, version = r["author_id"], r["state"], int(r["version"])
        created = from_ms(int(r["created_ms"]))
        if self.caption is not None:
            media_json = orjson.dumps([dict(m) for m in self.media or ()]).decode()
            params = (self.post_id, author, self.caption, media_json, created, state)
            rows = [(_INSERT, (*params, r.get("reason"), self.event_id, version))]
        else:
            rows = [(_UPDATE_STATE, (version, state, r.get("reason"), self.post_id))]
        if state == READY:
            rows.append((_BY_AUTHOR, (author, created, self.post_id, version)))
        elif state == DELETED and int(r["created_ms"]):
            rows.append((_UNBY_AUTHOR, (version, author, created, self.post_id)))
        return rows


# Posts whose rows go out as one UNLOGGED batch (a few rows each).
_ROWS_PER_REQUEST = 16


async def write_posts(conn: Connections, writes: Sequence[PostWrite]) -> list[bool]:
    """Project many posts' records: Redis first (visible at once, one pipeline, in
    order), then the durable rows. Returns, per write, False when a newer state of the
    post was already written (nothing changed)."""
    if not writes:
        return []
    fresh = await project_posts(
        conn, [(w.post_id, w.shape(), int(w.record["version"]), w.post_count) for w in writes]
    )
    # Each author's count as of the batch's last write (the count row has no version).
    counts = {w.record["author_id"]: w.post_count for w in writes}
    rows = [row for w in writes for row in w.rows()]
    rows += [(_POSTS_COUNT, (count, author)) for author, count in counts.items()]
    db = await conn.db()
    await asyncio.gather(
        *(
            db.execute_together(rows[i : i + _ROWS_PER_REQUEST])
            for i in range(0, len(rows), _ROWS_PER_REQUEST)
        )
    )
    return fresh


async def rebuild_posts(conn: Connections) -> int:
    """Refill post hashes, author tails and pending lists from Cassandra."""

    db = await conn.db()
    redis = conn.redis()
    k = conn.keys
    cap = conn.settings.author_posts_cap
    counts: dict[str, int] = {}
    rows = await db.scan(
        "SELECT post_id, author_id, caption, media, created_at, state, reason, "
        "WRITETIME(state) AS version FROM posts",
    )
    commands: list[Callable[[Any], object]] = []
    for row in rows:
        created_ms = to_ms(row.created_at)
        shape = PostHash(
            author_id=row.author_id or "",
            state=row.state or "",
            created_ms=created_ms,
            reason=row.reason,
            caption=row.caption or "",
            media=tuple(orjson.loads(row.media or "[]")),
        )
        commands.append(
            lambda p, r=row, h=shape: HSET_IF_NEWER.queue(
                p, [k.post(r.post_id)], [str(r.version or 0), *h.fields()]
            )
        )
        entry = {row.post_id: created_ms}
        if row.state == READY:
            commands.append(lambda p, r=row, e=entry: p.zadd(k.author_posts(r.author_id), e))
            commands.append(lambda p, e=entry: p.zadd(k.recent_posts(), e))
        elif row.state != DELETED:
            commands.append(lambda p, r=row, e=entry: p.zadd(k.author_pending(r.author_id), e))
        if row.state != DELETED:
            counts[row.author_id] = counts.get(row.author_id, 0) + 1
    for author, count in counts.items():
        commands.append(lambda p, a=author: p.zremrangebyrank(k.author_posts(a), 0, -(cap + 1)))
        commands.append(lambda p, a=author, n=count: p.hset(k.user_counts(a), "posts", n))
    commands.append(lambda p: p.zremrangebyrank(k.recent_posts(), 0, -(cap + 1)))
    await pipelined(redis, commands)
    return len(rows)


async def erase_posts(conn: Connections, author_id: str, post_ids: Sequence[str]) -> int:
    """Every post of an erased author, whatever its state: hashes, counts and likers,
    rows (caption included), their comments, tag pages and the author's index; the
    post ids out of the recent list. Returns how many traces were found."""
    db = await conn.db()
    listed = await db.scan(await db.prepare(_POSTS_OF), (author_id,))
    tags = await db.scan(await db.prepare(_TAG_ROWS), (author_id,))
    by_author = await db.execute(_AUTHOR_ROW, (author_id,))
    ids = sorted(set(post_ids) | {r.post_id for r in listed})
    k = conn.keys
    commands: list[Callable[[Any], object]] = []
    for post_id in ids:
        commands.append(lambda p, i=post_id: p.delete(k.post(i), k.post_stats(i), k.post_likers(i)))
    if ids:
        commands.append(lambda p: p.zrem(k.recent_posts(), *ids))
    words = {row.tag for row in tags} | {t for r in listed for t in parse_hashtags(r.caption or "")}
    for tag in sorted(words):
        commands.append(
            lambda p, t=tag: _UNTAG.queue(
                p, [k.hashtag_users(t), k.hashtags_active()], [author_id, t]
            )
        )
    replies = await pipelined(conn.redis(), commands)
    for cql in _ERASE:
        await db.execute_many(cql, [(post_id,) for post_id in ids])
    await db.execute_many(_ERASE_TAG_ROW, [(r.tag, r.created_at, r.post_id) for r in tags])
    await db.execute(_ERASE_BY_AUTHOR, (author_id,))
    return len(listed) + len(tags) + len(by_author) + sum(int(r) for r in replies[: len(ids)])
