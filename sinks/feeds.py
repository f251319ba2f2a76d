"""Feed candidates in Redis: a post's state and tails, pushes, retractions, copies, rebuilds.

Every decision (who receives a post, whether a follow copies posts) is taken in
``domain.fanout`` by the agents; these functions only apply it. Each write is
idempotent: ZADD of a post's creation time and rank trimming, ZREM, and a post hash
replaced only by a version at least as new, so a replay changes nothing.

Ordering, not atomicity, keeps a follow and a post from missing each other: a post
writes its author's tail before it reads the followers, a follow adds the follower
before it reads the tail, so whichever comes second sees the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson

from clients.lua import Lua
from clients.redis import pipelined
from domain.clock import from_ms, now_ms
from domain.feeds import newest
from schemas.redis_hashes import PostHash
from sinks.connections import Connections

logger = logging.getLogger(__name__)

# A post's state, in one round trip. The hash is replaced only by a version at least as
# new as the stored one; a stale event (a newer state already written) changes nothing.
# Then, by state: ready -> the author's tail and the recent posts; deleted -> out of
# both and of the pending list; processing/failed -> the author's pending list.
# KEYS: post, apending:A, ucounts:A, aposts:A, recent
# ARGV: version, post_id, state, created_ms, post count, tail cap, then the hash's
#       field/value pairs (``schemas.redis_hashes.PostHash``)
# Returns 1, or -2 for a stale event.
POST_STATE = Lua("""
local version, post, state, score = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local current = redis.call('HGET', KEYS[1], 'updated_at')
if current and tonumber(current) > tonumber(version) then return -2 end
redis.call('HSET', KEYS[1], 'updated_at', version, unpack(ARGV, 7))
redis.call('HSET', KEYS[3], 'posts', ARGV[5])
if state == 'deleted' then
  redis.call('ZREM', KEYS[2], post)
  redis.call('ZREM', KEYS[4], post)
  redis.call('ZREM', KEYS[5], post)
  return 1
end
if state ~= 'ready' then
  redis.call('ZADD', KEYS[2], score, post)
  return 1
end
redis.call('ZREM', KEYS[2], post)
local tail = tonumber(ARGV[6])
for _, key in ipairs({KEYS[4], KEYS[5]}) do
  redis.call('ZADD', key, score, post)
  local n = redis.call('ZCARD', key)
  if n > tail then redis.call('ZREMRANGEBYRANK', key, 0, n - tail - 1) end
end
return 1
""")


async def project_posts(
    conn: Connections, posts: Sequence[tuple[str, PostHash, int, int]]
) -> list[bool]:
    """Write each post's hash, its author's tails and pending list, one pipeline in
    order; per (post_id, shape, version, post count), False for a stale event."""
    k, cap = conn.keys, conn.settings.author_posts_cap

    def queue(post_id: str, shape: PostHash, version: int, count: int) -> Callable[[Any], None]:
        author = shape.author_id
        keys = [
            k.post(post_id),
            k.author_pending(author),
            k.user_counts(author),
            k.author_posts(author),
            k.recent_posts(),
        ]
        args = [version, post_id, shape.state, shape.created_ms, count, cap, *shape.fields()]
        return lambda p: POST_STATE.queue(p, keys, args)

    replies = await pipelined(conn.redis(), [queue(*post) for post in posts])
    return [int(r) == 1 for r in replies]


def _push(
    conn: Connections, entries: Mapping[str, float], feeds_of: Iterable[str]
) -> list[Callable[[Any], object]]:
    # One ZADD per feed, sent as a raw command (redis-py's option handling is a cost per
    # recipient); each feed is trimmed to its cap when its snapshot is flushed.
    k = conn.keys
    pairs = [str(x) for post_id, ms in entries.items() for x in (int(ms), post_id)]
    users = list(feeds_of)
    commands: list[Callable[[Any], object]] = [
        lambda p, feed=feed: p.execute_command("ZADD", feed, *pairs) for feed in map(k.feed, users)
    ]
    if users:
        commands.append(lambda p: p.sadd(k.feed_dirty(), *users))
    return commands


# One post into many feeds in one call: redis-py spends tens of microseconds of Python
# on each command and reply, the script a few per key. Each feed is trimmed to its cap
# when its snapshot is flushed. KEYS: the recipients' feeds, then the dirty-feeds set;
# ARGV: created ms, post id, then the recipients' user ids. Returns feeds written.
PUSH_POST = Lua("""
local last = #KEYS - 1
for i = 1, last do redis.call('ZADD', KEYS[i], ARGV[1], ARGV[2]) end
redis.call('SADD', KEYS[#KEYS], unpack(ARGV, 3))
return last
""")
# Recipients per script call: bounded replies and a bounded pause of the server.
_PUSH_CHUNK = 1000


async def spread_posts(
    conn: Connections,
    pushes: Sequence[tuple[str, int, Sequence[str]]] = (),
    retractions: Sequence[tuple[str, Sequence[str]]] = (),
) -> int:
    """Ready posts into their recipients' capped feeds ((post_id, created ms,
    recipients)) and deleted ones out of their followers' ((post_id, followers)), in one
    pipelined call; returns feeds pushed to."""
    k = conn.keys
    commands: list[Callable[[Any], object]] = []
    pushed = 0
    for post_id, created_ms, recipients in pushes:
        users = list(recipients)
        for i in range(0, len(users), _PUSH_CHUNK):
            chunk = users[i : i + _PUSH_CHUNK]
            keys = [*map(k.feed, chunk), k.feed_dirty()]
            args = [int(created_ms), post_id, *chunk]
            commands.append(lambda p, keys=keys, args=args: PUSH_POST.queue(p, keys, args))
        pushed += len(users)
    dirty: set[str] = set()
    for post_id, followers in retractions:
        commands += [lambda p, u=user, i=post_id: p.zrem(k.feed(u), i) for user in followers]
        dirty.update(followers)
    if dirty:
        commands.append(lambda p: p.sadd(k.feed_dirty(), *sorted(dirty)))
    await pipelined(conn.redis(), commands)
    return pushed


async def author_tail(conn: Connections, author_id: str, n: int) -> dict[str, float]:
    """The author's newest ``n`` ready posts: post_id -> created ms."""
    k = conn.keys
    return dict(await conn.redis().zrevrange(k.author_posts(author_id), 0, n - 1, withscores=True))


async def push_tail(conn: Connections, *, author_id: str, recipients: Iterable[str]) -> int:
    """The author's newest posts (what reads pull from a celebrity) into each recipient's
    feed: a follow that copies posts, or an author who stopped being a celebrity."""
    tail = await author_tail(conn, author_id, conn.settings.feed_pull_tail)
    if not tail:
        return 0
    users = list(recipients)
    await pipelined(conn.redis(), _push(conn, tail, users))
    return len(users)


async def retract_author(conn: Connections, *, follower_id: str, author_id: str) -> None:
    """An unfollow: the author's tail out of the follower's feed (readers hide it already)."""
    tail = await author_tail(conn, author_id, conn.settings.feed_cap)
    if tail:
        k, redis = conn.keys, conn.redis()
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zrem(k.feed(follower_id), *tail)
            pipe.sadd(k.feed_dirty(), follower_id)
            await pipe.execute()


async def read_last_seen(conn: Connections, user_ids: list[str]) -> dict[str, float | None]:
    """When each user last read their feed (the activity index), or None."""
    if not user_ids:
        return {}
    seen = await conn.redis().zmscore(conn.keys.active_users(), user_ids)
    return dict(zip(user_ids, seen, strict=True))


# --- durable copies ----------------------------------------------------------------

_UPSERT_SNAPSHOT = "INSERT INTO feed_candidates (user_id, candidates, updated_at) VALUES (?, ?, ?)"
_SELECT_SNAPSHOTS = "SELECT user_id, candidates FROM feed_candidates"


async def flush_feed_snapshots(conn: Connections, *, batch: int = 500) -> int:
    """Trim every changed feed to its cap and copy it to Cassandra as one absolute value;
    returns feeds written."""
    redis, cap = conn.redis(), conn.settings.feed_cap
    db = await conn.db()
    written = 0
    while True:
        users = await redis.spop(conn.keys.feed_dirty(), batch)
        if not users:
            return written
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for user in users:
                    # Pushes leave trimming to here: a feed keeps its newest ``feed_cap``.
                    pipe.zremrangebyrank(conn.keys.feed(user), 0, -(cap + 1))
                    pipe.zrevrange(conn.keys.feed(user), 0, -1, withscores=True)
                feeds = (await pipe.execute())[1::2]
            now = from_ms(now_ms())
            await db.execute_many(
                _UPSERT_SNAPSHOT,
                [
                    (user, orjson.dumps([[p, int(s)] for p, s in feed]).decode(), now)
                    for user, feed in zip(users, feeds, strict=True)
                ],
            )
        except Exception:
            # Put the marks back so the next flush retries these feeds.
            await redis.sadd(conn.keys.feed_dirty(), *users)
            raise
        written += len(users)
        if len(users) < batch:
            return written


async def mark_active(conn: Connections, user_id: str, now_ms: int) -> None:
    """The user read their feed now: they get pushes again (the activity index)."""
    await conn.redis().zadd(conn.keys.active_users(), {user_id: now_ms}, gt=True)


async def rebuild_feed(
    conn: Connections, user_id: str, *, saved: list[tuple[str, float]] | None = None
) -> int:
    """One user's candidates from their followees' newest posts (celebrities are pulled
    at read time), merged with ``saved`` (a durable copy); returns candidates kept.

    For a follower who was idle (fan-out skipped them) and for ``photostream rebuild``.
    """
    redis, k, cap = conn.redis(), conn.keys, conn.settings.feed_cap
    async with redis.pipeline(transaction=False) as pipe:
        pipe.smembers(k.following(user_id))
        pipe.smembers(k.celebrities())
        followees, celebrities = await pipe.execute()
    pushed = sorted(set(followees) - set(celebrities))
    async with redis.pipeline(transaction=False) as pipe:
        for followee in pushed:
            pipe.zrevrange(k.author_posts(followee), 0, cap - 1, withscores=True)
        tails = await pipe.execute() if pushed else []
    merged = newest([*(saved or ()), *(e for tail in tails for e in tail)], cap)
    async with redis.pipeline(transaction=False) as pipe:
        if merged:
            pipe.zadd(k.feed(user_id), dict(merged))
        pipe.zremrangebyrank(k.feed(user_id), 0, -(cap + 1))
        pipe.sadd(k.feed_dirty(), user_id)
        await pipe.execute()
    return len(merged)


async def rebuild_feeds(conn: Connections) -> int:
    """Refill every feed from its durable copy merged with the followees' newest posts."""
    db = await conn.db()
    rebuilt = 0
    for row in await db.scan(_SELECT_SNAPSHOTS):
        saved = [(p, float(s)) for p, s in orjson.loads(row.candidates or "[]")]
        await rebuild_feed(conn, row.user_id, saved=saved)
        rebuilt += 1
    return rebuilt
