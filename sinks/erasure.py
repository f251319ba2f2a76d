"""An account's erasure in Redis and Cassandra: its facts, its tombstone, the sweep's
bookkeeping and the account's last traces.

``read_facts`` is the one read the cascade decides on (``domain.erasure``): the graph
both ways from the Redis sets and their Cassandra rows, the account's posts, stories
and uploads, and its likes, saves, shares, comments and story receipts on other
people's posts and stories (the per-user indexes of ``sinks.engagement``, and
storage-attached indexes of ``0009_erasure.cql`` where a row names the user outside
its partition key). ``erase_account_traces`` removes what is left of the account once
the grace period is over: its own keys and rows, rows of others that still name it,
its credentials and the reserved username. Posts, stories, engagement and media have
their own ``erase_*``/``remove_media`` in their sinks.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from domain.clock import from_ms, to_ms
from domain.erasure import Erasure, Facts, Holdings
from domain.posts import DELETED
from domain.ratelimit import user_subject, username_subject
from schemas.redis_hashes import ProfileHash
from sinks.connections import Connections
from sinks.scripts import FOREVER_MS, HSET_IF_NEWER

_TOMBSTONE = (
    "INSERT INTO users (user_id, username, display_name, is_private, bio, deleted, "
    "updated_at, event_id) VALUES (?, '', '', false, '', true, ?, ?) USING TIMESTAMP ?"
)

# --- bookkeeping ----------------------------------------------------------------

_INSERT_ERASURE = (
    "INSERT INTO erasures (user_id, event_id, username, deleted_at, recheck_at, due_at) "
    "VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
_SELECT_ERASURES = (
    "SELECT user_id, event_id, username, deleted_at, recheck_at, due_at, rechecked, passes, "
    "emitted_at, cleaned_at, posts, stories, media FROM erasures"
)
_PROGRESS = (
    "UPDATE erasures SET rechecked = ?, passes = ?, emitted_at = ?, cleaned_at = ? "
    "WHERE user_id = ?"
)
_REMEMBER = (
    "UPDATE erasures USING TIMESTAMP ? SET posts = posts + ?, stories = stories + ?, "
    "media = media + ? WHERE user_id = ?"
)
_DROP = "DELETE FROM erasures WHERE user_id = ?"


async def write_tombstone(conn: Connections, user_id: str, *, event_id: str, micros: int) -> None:
    """The profile blanked and marked deleted, so every read hides the account at once
    (``api.readers.ties``); the Cassandra row keeps the mark for rebuilds."""
    await conn.execute(_TOMBSTONE, (user_id, from_ms(micros // 1000), event_id, micros))
    shape = ProfileHash(username="", display_name="", is_private=False, bio="", deleted=True)
    await HSET_IF_NEWER(conn.redis(), [conn.keys.user(user_id)], [str(FOREVER_MS), *shape.fields()])


async def write_erasure(conn: Connections, erasure: Erasure, *, micros: int) -> None:
    """Start the sweep's record; a replay writes the same values at the same time."""
    e = erasure
    await conn.execute(
        _INSERT_ERASURE,
        (
            e.user_id,
            e.event_id,
            e.username,
            from_ms(e.deleted_ms),
            from_ms(e.recheck_ms),
            from_ms(e.due_ms),
            micros,
        ),
    )


def _ms(moment: datetime | None) -> int | None:
    return to_ms(moment) if moment is not None else None


async def read_erasures(conn: Connections) -> list[Erasure]:
    """Every erasure still under way (a small table: accounts deleted in the grace period)."""
    rows = await (await conn.db()).scan(_SELECT_ERASURES)
    return [
        Erasure(
            user_id=r.user_id,
            event_id=r.event_id or "",
            username=r.username or "",
            deleted_ms=to_ms(r.deleted_at),
            recheck_ms=to_ms(r.recheck_at),
            due_ms=to_ms(r.due_at),
            rechecked=bool(r.rechecked),
            passes=int(r.passes or 0),
            acted_ms=_ms(r.emitted_at),
            cleaned_ms=_ms(r.cleaned_at),
            holdings=Holdings(
                frozenset(r.posts or ()), frozenset(r.stories or ()), frozenset(r.media or ())
            ),
        )
        for r in rows
        if r.due_at is not None and r.deleted_at is not None and r.recheck_at is not None
    ]


async def write_progress(conn: Connections, erasure: Erasure) -> None:
    e = erasure
    await conn.execute(
        _PROGRESS,
        (
            e.rechecked,
            e.passes,
            from_ms(e.acted_ms) if e.acted_ms is not None else None,
            from_ms(e.cleaned_ms) if e.cleaned_ms is not None else None,
            e.user_id,
        ),
    )


async def remember(conn: Connections, user_id: str, holdings: Holdings, *, micros: int) -> None:
    """Add ids the cascade found to the record (sets: a replay adds nothing new)."""
    if not (holdings.posts or holdings.stories or holdings.media):
        return
    await conn.execute(
        _REMEMBER,
        (micros, set(holdings.posts), set(holdings.stories), set(holdings.media), user_id),
    )


async def drop_erasure(conn: Connections, user_id: str) -> None:
    await conn.execute(_DROP, (user_id,))


# --- facts ----------------------------------------------------------------------

_ROWS = {
    "posts": "SELECT post_id, state FROM posts WHERE author_id = ?",
    "stories": "SELECT story_id FROM stories WHERE author_id = ?",
    "comments": "SELECT post_id, comment_id FROM comments_by_post WHERE user_id = ?",
    "views": "SELECT story_id FROM story_viewers WHERE viewer_id = ?",
    "media": "SELECT media_id FROM media WHERE owner_id = ?",
    "following": "SELECT followee_id FROM following WHERE user_id = ?",
    "followers": "SELECT follower_id FROM followers WHERE user_id = ?",
    "blocks": "SELECT blocked_id FROM blocks WHERE user_id = ?",
    "blocked_by": "SELECT user_id FROM blocks WHERE blocked_id = ?",
    "mutes": "SELECT muted_id FROM mutes WHERE user_id = ?",
    "muted_by": "SELECT user_id FROM mutes WHERE muted_id = ?",
    "close": "SELECT friend_id FROM close_friends WHERE user_id = ?",
    "requests": "SELECT requester_id FROM follow_requests WHERE owner_id = ?",
    "saves": "SELECT post_id FROM saves_by_user WHERE user_id = ?",
}


async def _rows(conn: Connections, user_id: str) -> dict[str, list[Any]]:
    db = await conn.db()
    names = list(_ROWS)
    statements = [await db.prepare(_ROWS[n]) for n in names]
    found = await asyncio.gather(*(db.scan(s, (user_id,)) for s in statements))
    return dict(zip(names, found, strict=True))


def _first(rows: Iterable[Any]) -> set[str]:
    return {str(r[0]) for r in rows}


async def read_facts(conn: Connections, user_id: str) -> tuple[Facts, Holdings]:
    """What the account still holds, and every id it owned (for the last sweep)."""
    k, redis = conn.keys, conn.redis()
    async with redis.pipeline(transaction=False) as pipe:
        for key in (
            k.following(user_id),
            k.followers(user_id),
            k.close_friends(user_id),
            k.close_friend_of(user_id),
            k.blocked(user_id),
            k.muted(user_id),
            k.requests_sent(user_id),
            k.liked(user_id),
        ):
            pipe.smembers(key)
        for key in (
            k.follow_requests(user_id),
            k.saved(user_id),
            k.author_stories(user_id),
            k.author_posts(user_id),
            k.author_pending(user_id),
        ):
            pipe.zrange(key, 0, -1)
        pipe.hgetall(k.shares(user_id))
        (
            following, followers, close, close_of, blocked, muted, sent, liked,
            requests, saved, live_stories, ready_posts, pending_posts, shares,
        ) = await pipe.execute()  # fmt: skip
    rows = await _rows(conn, user_id)
    all_posts = _first(rows["posts"]) | set(ready_posts) | set(pending_posts)
    gone = {r.post_id for r in rows["posts"] if r.state == DELETED}
    stories = _first(rows["stories"]) | set(live_stories)
    saves = set(saved) | _first(rows["saves"])
    comments = {(r.comment_id, r.post_id) for r in rows["comments"]}
    share_pairs = {(share_id, post_id) for share_id, post_id in shares.items()}
    # Likes as projected on their posts; saves, shares and comments on posts not deleted.
    liked_posts = sorted(liked)
    targets = sorted(saves | {p for _, p in comments} | {p for _, p in share_pairs})
    async with redis.pipeline(transaction=False) as pipe:
        for post_id in liked_posts:
            pipe.sismember(k.post_likers(post_id), user_id)
        for post_id in targets:
            pipe.hget(k.post(post_id), "state")
        replies = await pipe.execute()
    likes = {p for p, on in zip(liked_posts, replies[: len(liked_posts)], strict=True) if on}
    states = dict(zip(targets, replies[len(liked_posts) :], strict=True))
    standing = {p for p in targets if states[p] != DELETED}
    facts = Facts(
        user_id=user_id,
        following=frozenset(set(following) | _first(rows["following"])),
        followers=frozenset(set(followers) | _first(rows["followers"])),
        close_friends=frozenset(set(close) | _first(rows["close"])),
        close_friend_of=frozenset(close_of),
        blocked=frozenset(set(blocked) | _first(rows["blocks"]) | _first(rows["blocked_by"])),
        muted=frozenset(set(muted) | _first(rows["mutes"])),
        muted_by=frozenset(_first(rows["muted_by"])),
        requests_received=frozenset(set(requests) | _first(rows["requests"])),
        requests_sent=frozenset(sent),
        posts=frozenset(all_posts - gone),
        stories=frozenset(stories),
        likes=frozenset(likes),
        saves=frozenset(saves & standing),
        shares=frozenset(s for s in share_pairs if s[1] in standing),
        comments=frozenset(c for c in comments if c[1] in standing),
        views=frozenset(_first(rows["views"]) - stories),
    )
    return facts, Holdings(
        frozenset(all_posts), frozenset(stories), frozenset(_first(rows["media"]))
    )


# --- last traces ----------------------------------------------------------------

# Rows keyed by the account alone: (table, key column).
_OWN_ROWS = (
    ("users", "user_id"),
    ("user_counts", "user_id"),
    ("feed_candidates", "user_id"),
    ("saves_by_user", "user_id"),
    ("following", "user_id"),
    ("followers", "user_id"),
    ("blocks", "user_id"),
    ("mutes", "user_id"),
    ("close_friends", "user_id"),
    ("follow_requests", "owner_id"),
    ("accounts", "user_id"),
    ("user_refresh_families", "user_id"),
)
# Rows of others that name the account: the select (by the account's id) of the other
# key, and the delete of one row with (other key, account id) or the other key alone.
_NAMING_ROWS: tuple[tuple[str, str, bool], ...] = (
    (
        "SELECT user_id FROM blocks WHERE blocked_id = ?",
        "DELETE FROM blocks WHERE user_id = ? AND blocked_id = ?",
        True,
    ),
    (
        "SELECT user_id FROM mutes WHERE muted_id = ?",
        "DELETE FROM mutes WHERE user_id = ? AND muted_id = ?",
        True,
    ),
    (
        "SELECT follower_id FROM followers WHERE user_id = ?",
        "DELETE FROM following WHERE user_id = ? AND followee_id = ?",
        True,
    ),
    (
        "SELECT followee_id FROM following WHERE user_id = ?",
        "DELETE FROM followers WHERE user_id = ? AND follower_id = ?",
        True,
    ),
    (
        "SELECT token_hash FROM refresh_tokens WHERE user_id = ?",
        "DELETE FROM refresh_tokens WHERE token_hash = ?",
        False,
    ),
    (
        "SELECT family_id FROM refresh_families WHERE user_id = ?",
        "DELETE FROM refresh_families WHERE family_id = ?",
        False,
    ),
)
_HOLDER = "SELECT user_id FROM usernames WHERE username = ?"
_FREE_HELD = "DELETE FROM usernames WHERE username = ? IF user_id = ?"
_FREE_EXPIRED = "DELETE FROM usernames WHERE username = ? IF user_id = null"
_CLOSE_ROW = "DELETE FROM close_friends WHERE user_id = ? AND friend_id = ?"
_REQUEST_ROW = "DELETE FROM follow_requests WHERE owner_id = ? AND requester_id = ?"


# The account's own keys: ``RedisKeys`` methods of one user id, and the per-user indexes.
_OWN_KEYS = (
    "user", "following", "followers", "close_friends", "close_friend_of", "blocked", "muted",
    "follow_requests", "requests_sent", "user_counts", "feed", "author_posts",
    "author_pending", "saved", "author_stories", "author_open_stories", "story_tray",
    "stories_seen",
)  # fmt: skip


def _own_keys(conn: Connections, user_id: str) -> list[str]:
    k = conn.keys
    own = [getattr(k, name)(user_id) for name in _OWN_KEYS]
    return [*own, k.liked(user_id), k.shares(user_id)]


def trace_patterns(conn: Connections, user_id: str, username: str) -> list[str]:
    """Keys named after the account with a variable part (idempotency answers, pending
    likes, feed sessions, rate windows, login failures); they expire on their own, within
    a day, so only a grace period shorter than that finds any."""
    k = conn.keys
    patterns = [
        k.idempotency(user_id, "*"),
        k.idempotency(f"login:{user_id}", "*"),
        k.like_pending(user_id, "*"),
        k.feed_session(user_id, "*"),
        k.rate("*", user_subject(user_id)),
    ]
    if username:
        patterns += [
            k.idempotency(f"register:{username}", "*"),
            k.login_failures(username_subject(username)),
        ]
    return patterns


async def _pattern_keys(
    conn: Connections, needles: Sequence[str], patterns: list[str]
) -> list[str]:
    redis, found = conn.redis(), set()
    for needle in needles:
        # One pass of the keyspace per needle, filtered by the server, then by pattern.
        async for key in redis.scan_iter(match=f"{conn.keys.prefix}:*{needle}*", count=1000):
            if any(fnmatch.fnmatchcase(key, p) for p in patterns):
                found.add(key)
    return sorted(found)


async def erase_account_traces(conn: Connections, erasure: Erasure) -> int:
    """Remove the account's own keys and rows, rows of others naming it, its credentials
    and its username's reservation; returns how many traces were found."""
    user, username = erasure.user_id, erasure.username
    db, redis, k = await conn.db(), conn.redis(), conn.keys
    found = 0
    # Rows of others that name the account, read before the account's own rows go.
    close_of = await redis.smembers(k.close_friend_of(user))
    sent = await redis.smembers(k.requests_sent(user))
    for select, delete, with_user in _NAMING_ROWS:
        others = sorted(_first(await db.scan(await db.prepare(select), (user,))))
        found += len(others)
        await db.execute_many(delete, [(o, user) if with_user else (o,) for o in others])
    await db.execute_many(_CLOSE_ROW, [(owner, user) for owner in sorted(close_of)])
    await db.execute_many(_REQUEST_ROW, [(owner, user) for owner in sorted(sent)])
    for table, column in _OWN_ROWS:
        rows = await db.execute(f"SELECT {column} FROM {table} WHERE {column} = ? LIMIT 1", (user,))
        if rows:
            found += 1
            await db.execute(f"DELETE FROM {table} WHERE {column} = ?", (user,))
    held = await db.execute(_HOLDER, (username,)) if username else []
    if held and not held[0].user_id:  # reserved ('') or its reservation expired (null)
        free = _FREE_EXPIRED if held[0].user_id is None else _FREE_HELD
        params = (username,) if held[0].user_id is None else (username, "")
        if (await db.execute(free, params))[0][0]:
            found += 1
    keys = _own_keys(conn, user)
    keys += await _pattern_keys(
        conn, [user, username] if username else [user], trace_patterns(conn, user, username)
    )
    async with redis.pipeline(transaction=False) as pipe:
        pipe.delete(*keys)
        pipe.zrem(k.active_users(), user)
        pipe.srem(k.celebrities(), user)
        pipe.srem(k.feed_dirty(), user)
        replies = await pipe.execute()
    return found + sum(int(r) for r in replies)
