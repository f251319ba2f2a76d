"""Project the search index to Redis: lexicographic term sets, short-prefix top lists.

Every write is absolute and safe to replay: a term member is added or removed (ZADD/
ZREM of the exact "term\\x00user_id"), a user's count and terms are set, a tag's one
member "tag\\x00count" replaced, and a top-list member is set to the popularity read
now, then the list is trimmed to its ``TOP_K`` best. A user's popularity is their
follower count as the graph projects it (``ucounts``); a tag's is its live post count.
A popularity refresh changes the count beside whatever terms Redis holds (one script),
so a rename written meanwhile is never rolled back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from clients.lua import Lua
from domain.search import TOP_K, short_prefixes, user_terms
from schemas.redis_keys import SEARCH_TERM_SEPARATOR as TERM_SEPARATOR
from schemas.redis_keys import SEARCH_TERMS_JOIN as TERMS_JOIN
from sinks.connections import Connections

# KEYS: the terms hash. ARGV: user_id, follower count. The count of an indexed user,
# beside the terms it holds now; nothing for a user no longer indexed.
_SET_COUNT = Lua("""
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local at = string.find(v, '\\31', 1, true)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. string.sub(v, at))
return 1
""")

# KEYS: the tags' lex set. ARGV: tag, live posts. The tag's one member, or none at 0.
_SET_TAG = Lua("""
local old = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[1] .. '\\0', '[' .. ARGV[1] .. '\\0\\255')
for _, m in ipairs(old) do redis.call('ZREM', KEYS[1], m) end
if tonumber(ARGV[2]) > 0 then redis.call('ZADD', KEYS[1], 0, ARGV[1] .. '\\0' .. ARGV[2]) end
return #old
""")


def user_member(term: str, user_id: str) -> str:
    return f"{term}{TERM_SEPARATOR}{user_id}"


def terms_value(followers: int, terms: Sequence[str]) -> str:
    return TERMS_JOIN.join((str(followers), *terms))


def terms_of(value: str) -> list[str]:
    return value.split(TERMS_JOIN)[1:]


@dataclass(frozen=True)
class NameChange:
    """One user's terms before and after a profile change or a deletion."""

    user_id: str
    old: tuple[str, ...]
    new: tuple[str, ...]


async def read_followers(conn: Connections, user_ids: Sequence[str]) -> dict[str, int]:
    """Follower counts as the graph projects them (0 when none yet)."""
    if not user_ids:
        return {}
    async with conn.redis().pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.hget(conn.keys.user_counts(user_id), "followers")
        counts = await pipe.execute()
    return {u: int(c or 0) for u, c in zip(user_ids, counts, strict=True)}


async def write_user_index(
    conn: Connections, changes: Sequence[NameChange], rescore: Mapping[str, tuple[str, ...]]
) -> None:
    """Apply name changes in order, then set each touched user's top-list scores.

    ``rescore``: users whose popularity may have moved (a follow), with their terms."""
    keys = conn.keys
    final: dict[str, tuple[str, ...]] = dict(rescore)
    for change in changes:
        final[change.user_id] = change.new
    followers = await read_followers(conn, list(final))
    renamed = {c.user_id for c in changes}
    async with conn.redis().pipeline(transaction=False) as pipe:
        for c in changes:
            gone = [user_member(t, c.user_id) for t in c.old if t not in c.new]
            if gone:
                pipe.zrem(keys.search_users(), *gone)
            if c.new:
                pipe.zadd(keys.search_users(), {user_member(t, c.user_id): 0 for t in c.new})
            for prefix in short_prefixes(c.old) - short_prefixes(c.new):
                pipe.zrem(keys.search_users_top(prefix), c.user_id)
        for user_id, terms in final.items():
            if user_id not in renamed:
                _SET_COUNT.queue(pipe, [keys.search_user_terms()], [user_id, followers[user_id]])
            elif terms:  # the newest terms of a user this batch renamed
                value = terms_value(followers[user_id], terms)
                pipe.hset(keys.search_user_terms(), user_id, value)
            else:
                pipe.hdel(keys.search_user_terms(), user_id)
            for prefix in short_prefixes(terms):
                top = keys.search_users_top(prefix)
                pipe.zadd(top, {user_id: followers[user_id]})
                pipe.zremrangebyrank(top, 0, -(TOP_K + 1))
        await pipe.execute()


async def write_tag_index(conn: Connections, counts: Mapping[str, int]) -> None:
    """Each tag's live post count: indexed while it has live posts, gone at zero."""
    keys = conn.keys
    async with conn.redis().pipeline(transaction=False) as pipe:
        for tag, count in counts.items():
            _SET_TAG.queue(pipe, [keys.search_tags()], [tag, count])
            for top in (keys.search_tags_top(p) for p in short_prefixes([tag])):
                if count > 0:
                    pipe.zadd(top, {tag: count})
                    pipe.zremrangebyrank(top, 0, -(TOP_K + 1))
                else:
                    pipe.zrem(top, tag)
        await pipe.execute()


def _search_keys(conn: Connections, tags: Iterable[str], terms: Iterable[str]) -> list[str]:
    keys = conn.keys
    tops = [keys.search_tags_top(p) for p in short_prefixes(tags)]
    tops += [keys.search_users_top(p) for p in short_prefixes(terms)]
    return [keys.search_users(), keys.search_user_terms(), keys.search_tags(), *tops]


async def rebuild_search(conn: Connections) -> int:
    """Refill the index from Cassandra (profiles, tag pages) and the graph's counts;
    returns users and tags indexed."""
    db = await conn.db()
    users = await db.scan("SELECT user_id, username, display_name, deleted FROM users")
    terms = {
        r.user_id: user_terms(r.username or "", r.display_name or "")
        for r in users
        if not r.deleted
    }
    rows = await db.scan("SELECT tag, post_id FROM posts_by_hashtag")
    posts: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        posts[row.tag].add(row.post_id)
    redis = conn.redis()
    members = await redis.zrange(conn.keys.search_tags(), 0, -1)
    old_tags = [m.partition(TERM_SEPARATOR)[0] for m in members]
    old_terms = [t for v in await redis.hvals(conn.keys.search_user_terms()) for t in terms_of(v)]
    await redis.delete(
        *_search_keys(
            conn, [*old_tags, *posts], [*old_terms, *(t for ts in terms.values() for t in ts)]
        )
    )
    ids = list(terms)
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        await write_user_index(conn, [NameChange(u, (), terms[u]) for u in chunk], {})
    counts = {tag: len(ids) for tag, ids in posts.items()}
    tags = list(counts)
    for start in range(0, len(tags), 5000):
        await write_tag_index(conn, {t: counts[t] for t in tags[start : start + 5000]})
    return len(terms) + len(counts)
