"""Graph reads: follower lists through the visibility policy, follow requests, one's own
lists (blocked, muted, close friends), counts, and the account a graph write acts on.

Every list is a cursor page read from one place (Cassandra partitions in id order;
pending requests from Redis, newest first), then filtered by ``domain.visibility``
with the facts ``api.readers.ties.read_ties`` fetches for the page in one round trip.
A cursor is decoded before anything is read, so a malformed one is a 400 at no cost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

import redis.asyncio as aioredis

from api.readers.ties import Owner, read_ties, require_content
from clients.cassandra import Db
from domain.cursors import decode_cursor, encode_cursor, int_field, str_field
from domain.errors import NotFound
from domain.visibility import Account, may_see_account
from schemas.redis_hashes import ProfileHash
from schemas.redis_keys import RedisKeys
from schemas.views import UserPublic, UsersPage

_COUNTS = "SELECT followers, following, posts FROM user_counts WHERE user_id = ?"
_ACCOUNT = "SELECT is_private FROM users WHERE user_id = ?"
_OWN_BLOCK = "SELECT blocked_id FROM blocks WHERE user_id = ? AND blocked_id = ?"
# Table name and column per list; each is one partition read, ordered by id.
_PAGES = {
    "followers": "SELECT follower_id AS id FROM followers WHERE user_id = ? AND follower_id > ? LIMIT ?",
    "following": "SELECT followee_id AS id FROM following WHERE user_id = ? AND followee_id > ? LIMIT ?",
    "blocked": "SELECT blocked_id AS id FROM blocks WHERE user_id = ? AND blocked_id > ? LIMIT ?",
    "muted": "SELECT muted_id AS id FROM mutes WHERE user_id = ? AND muted_id > ? LIMIT ?",
    "close_friends": "SELECT friend_id AS id FROM close_friends WHERE user_id = ? AND friend_id > ? LIMIT ?",
}
# Most partition reads one filtered page takes before it answers with what it found
# (and a cursor past what it read), so a page of hidden ids never scans a whole list.
_MAX_READS_PER_PAGE = 4


@dataclass(frozen=True)
class Relations:
    following: set[str]
    blocked: set[str]  # hidden from the viewer because either side blocked the other


async def read_relations(redis: aioredis.Redis, keys: RedisKeys, viewer_id: str) -> Relations:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.smembers(keys.following(viewer_id))
        pipe.smembers(keys.blocked(viewer_id))
        following, blocked = await pipe.execute()
    return Relations(set(following), set(blocked))


async def read_counts(
    redis: aioredis.Redis, db: Db, keys: RedisKeys, user_id: str
) -> tuple[int, int, int]:
    """(followers, following, posts), Redis first, Cassandra behind it."""
    cached = await redis.hmget(keys.user_counts(user_id), "followers", "following", "posts")
    if any(v is not None for v in cached):
        return tuple(int(v or 0) for v in cached)  # type: ignore[return-value]
    rows = await db.execute(_COUNTS, (user_id,))
    if not rows:
        return (0, 0, 0)
    row = rows[0]
    return (row.followers or 0, row.following or 0, row.posts or 0)


async def read_profiles(
    redis: aioredis.Redis, keys: RedisKeys, user_ids: Sequence[str]
) -> dict[str, UserPublic]:
    """Cached profiles in one round trip; an account without one shows its id as name."""
    async with redis.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.hgetall(keys.user(user_id))
        rows = await pipe.execute()
    out = {}
    for user_id, fields in zip(user_ids, rows, strict=True):
        profile = ProfileHash.from_fields(fields)
        out[user_id] = UserPublic(
            user_id=user_id,
            username=(profile.username if profile else "") or user_id,
            display_name=profile.display_name if profile else "",
            is_private=bool(profile and profile.is_private),
        )
    return out


# --- the account a graph write acts on ------------------------------------------------


async def read_target(
    redis: aioredis.Redis, db: Db, keys: RedisKeys, viewer_id: str, user_id: str
) -> Owner:
    """The account ``viewer_id`` follows, mutes, blocks or lists as a close friend;
    ``NotFound`` when it does not exist (no profile cached nor stored) or the viewer may
    not see it (a block either way, a deleted account)."""
    owner = (await read_ties(redis, keys, viewer_id, [user_id]))[user_id]
    if not owner.known:  # not cached: Cassandra holds every profile the stream wrote
        rows = await db.execute(_ACCOUNT, (user_id,))
        if not rows:
            raise NotFound(f"user {user_id!r}")
        owner = replace(owner, account=Account(private=bool(rows[0].is_private)), known=True)
    if not may_see_account(owner.relation, owner.account):
        raise NotFound(f"user {user_id!r}")
    return owner


async def blocks(db: Db, blocker_id: str, blocked_id: str) -> bool:
    """Whether ``blocker_id`` themself blocks ``blocked_id`` (the Redis set is symmetric)."""
    return bool(await db.execute(_OWN_BLOCK, (blocker_id, blocked_id)))


async def has_request(
    redis: aioredis.Redis, keys: RedisKeys, owner_id: str, requester_id: str
) -> bool:
    """Whether ``requester_id``'s request to follow ``owner_id`` is pending."""
    return await redis.zscore(keys.follow_requests(owner_id), requester_id) is not None


# --- lists ------------------------------------------------------------------------------

# Which listed accounts a viewer is shown: the ids to keep, in order, with their cards.
Keep = Callable[[Sequence[str]], Awaitable[list[UserPublic]]]


def _visible(redis: aioredis.Redis, keys: RedisKeys, viewer_id: str, *, blocked: bool) -> Keep:
    """Accounts the viewer may see (``blocked``: also those hidden by a block, for the
    viewer's own blocked list); deleted accounts never."""

    async def keep(ids: Sequence[str]) -> list[UserPublic]:
        owners = await read_ties(redis, keys, viewer_id, ids)
        return [
            owners[i].profile
            for i in ids
            if may_see_account(owners[i].relation, owners[i].account)
            or (blocked and owners[i].ties.blocked and not owners[i].account.deleted)
        ]

    return keep


def _after(cursor: str | None) -> str:
    return str_field(decode_cursor(cursor, "a"), "a") if cursor else ""


async def _id_page(
    db: Db, list_name: str, user_id: str, *, after: str, limit: int, keep: Keep
) -> UsersPage:
    """One page of a partition in id order, of the accounts ``keep`` lets through."""
    shown: list[UserPublic] = []
    exhausted = False
    for _ in range(_MAX_READS_PER_PAGE):
        rows = await db.execute(_PAGES[list_name], (user_id, after, limit + 1 - len(shown)))
        ids = [row.id for row in rows]
        exhausted = len(ids) < limit + 1 - len(shown)
        if ids:
            after = ids[-1]
            shown += await keep(ids)
        if exhausted or len(shown) > limit:
            break
    if len(shown) > limit:  # one more than the page: there is a next page after its last
        return UsersPage(data=shown[:limit], next_cursor=encode_cursor(a=shown[limit - 1].user_id))
    return UsersPage(data=shown, next_cursor=None if exhausted else encode_cursor(a=after))


async def read_follows(
    redis: aioredis.Redis,
    db: Db,
    keys: RedisKeys,
    direction: str,
    user_id: str,
    *,
    cursor: str | None,
    limit: int,
    viewer_id: str | None = None,
) -> UsersPage:
    """A page of a user's followers or followees, in id order, with their profiles.

    With ``viewer_id``, the list must be the viewer's to see (``require_content``: 404
    for a private account they do not follow, a block either way, a deleted account),
    and the accounts they are blocked with and deleted ones are left out.
    """
    after = _after(cursor)
    if viewer_id is None:
        rows = await db.execute(_PAGES[direction], (user_id, after, limit + 1))
        ids = [row.id for row in rows]
        page, more = ids[:limit], len(ids) > limit
        profiles = await read_profiles(redis, keys, page)
        return UsersPage(
            data=[profiles[i] for i in page],
            next_cursor=encode_cursor(a=page[-1]) if more and page else None,
        )
    await require_content(redis, keys, viewer_id, user_id)
    keep = _visible(redis, keys, viewer_id, blocked=False)
    return await _id_page(db, direction, user_id, after=after, limit=limit, keep=keep)


async def read_own_list(
    redis: aioredis.Redis,
    db: Db,
    keys: RedisKeys,
    list_name: str,
    viewer_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> UsersPage:
    """A page of the viewer's own ``blocked``, ``muted`` or ``close_friends`` list, in id
    order; deleted accounts are left out (and, but for the blocked list, hidden ones)."""
    after = _after(cursor)
    keep = _visible(redis, keys, viewer_id, blocked=list_name == "blocked")
    return await _id_page(db, list_name, viewer_id, after=after, limit=limit, keep=keep)


async def read_follow_requests(
    redis: aioredis.Redis, keys: RedisKeys, owner_id: str, *, cursor: str | None, limit: int
) -> UsersPage:
    """A page of the owner's pending follow requests, newest first, with the
    requesters' profiles (deleted accounts left out)."""
    if cursor:
        fields = decode_cursor(cursor, "t", "a")
        before_ms, before_id = int_field(fields, "t"), str_field(fields, "a")
    else:
        before_ms, before_id = None, ""
    key = keys.follow_requests(owner_id)
    if before_ms is None:
        rows = await redis.zrevrangebyscore(
            key, "+inf", "-inf", start=0, num=limit + 1, withscores=True
        )
    else:
        # Equal scores come in descending id order: those of the cursor's millisecond
        # after its id, then everything older.
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zrevrangebyscore(key, before_ms, before_ms, withscores=True)
            pipe.zrevrangebyscore(
                key, f"({before_ms}", "-inf", start=0, num=limit + 1, withscores=True
            )
            same_ms, older = await pipe.execute()
        rows = [(m, score) for m, score in same_ms if m < before_id] + older
    entries = [(member, int(score)) for member, score in rows][: limit + 1]
    page, more = entries[:limit], len(entries) > limit
    keep = _visible(redis, keys, owner_id, blocked=False)
    shown = await keep([member for member, _ in page]) if page else []
    last = page[-1] if page else None
    return UsersPage(
        data=shown,
        next_cursor=encode_cursor(t=last[1], a=last[0]) if more and last else None,
    )
