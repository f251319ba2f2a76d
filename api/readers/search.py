"""Search reads: candidates from the index, ranked by ``domain.search``, seen through the policy.

One query costs a few pipelined round trips whatever its length:

1. the prefix's range of the users' and the tags' lex sets (one more than the candidate
   cap, to know it overflowed), the prefix's top lists when it is 1-2 characters long,
   the viewer's own graph scanned for the prefix when it is short (a Lua script over
   the accounts they follow and that follow them), and the ranges one typo away from
   4 characters on (one Lua script);
2. the ranking facts of every candidate: blocked either way, followed, following the
   viewer, counts, indexed terms (a top list's members are checked against them), a
   tag's live post count;
3. the page's accounts through ``api.readers.ties.read_ties`` and ``domain.visibility``
   (a deleted account, or one blocked either way, never appears), and the page's tags'
   trending counts.

A prefix matching more than ``MAX_CANDIDATES`` ranks its top list (1-2 characters) or its
first members in name order (longer prefixes), so a page never reads a huge range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from api.readers.ties import read_ties
from clients.lua import Lua
from domain import search
from domain.search import HASHTAG, USER, Candidate
from domain.trending import HOUR_MS
from domain.visibility import may_see_account
from schemas.redis_keys import SEARCH_TERM_SEPARATOR, SEARCH_TERMS_JOIN, RedisKeys
from schemas.views import (
    HashtagMatchPublic,
    SearchPage,
    SearchResultPublic,
    UserProfilePublic,
)

# Accounts of the viewer's graph scanned per side (followed, followers) for a short
# prefix; a viewer past it is ranked graph-first over a random sample of that many.
GRAPH_SCAN_MAX = 2000
# Prefixes of this length or shorter also scan the viewer's graph (longer ones match
# few enough accounts for their whole range to be ranked).
GRAPH_SCAN_CHARS = 3

# KEYS: following(viewer), followers(viewer), the terms hash. ARGV: prefix, scan cap.
# Returns id, term, side (1 followed, 2 follower) for each account with a matching term.
_GRAPH_SCAN = Lua("""
local q, cap = ARGV[1], tonumber(ARGV[2])
local out, seen = {}, {}
for side = 1, 2 do
  local ids
  if redis.call('SCARD', KEYS[side]) <= cap then
    ids = redis.call('SMEMBERS', KEYS[side])
  else
    ids = redis.call('SRANDMEMBER', KEYS[side], cap)
  end
  for _, id in ipairs(ids) do
    if not seen[id] then
      seen[id] = true
      local terms = redis.call('HGET', KEYS[3], id)
      if terms then
        for term in string.gmatch(terms, '[^\\31]+') do
          if string.sub(term, 1, #q) == q then
            out[#out + 1] = id
            out[#out + 1] = term
            out[#out + 1] = side
            break
          end
        end
      end
    end
  end
end
return out
""")

# KEYS: a lex set. ARGV: the most members per prefix, then the prefixes.
_RANGES = Lua("""
local out, limit = {}, tonumber(ARGV[1])
for i = 2, #ARGV do
  local p = ARGV[i]
  local got = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. p, '[' .. p .. '\\255', 'LIMIT', 0, limit)
  for _, m in ipairs(got) do out[#out + 1] = m end
end
return out
""")

_TRENDING_WINDOW_MS = 24 * HOUR_MS


def _range(q: str) -> tuple[bytes, bytes]:
    # 0xFF never occurs in UTF-8: the range ends after every term with this prefix.
    prefix = q.encode()
    return b"[" + prefix, b"[" + prefix + b"\xff"


def _split_member(member: str) -> tuple[str, str]:
    term, _, user_id = member.partition(SEARCH_TERM_SEPARATOR)
    return term, user_id


@dataclass
class _Found:
    """Candidates before their ranking facts: key -> (term, exact)."""

    users: dict[str, tuple[str, bool]] = field(default_factory=dict)
    tags: dict[str, tuple[str, bool]] = field(default_factory=dict)
    sides: dict[str, int] = field(default_factory=dict)  # from the graph scan
    unchecked: set[str] = field(default_factory=set)  # top-list users: terms to check

    def add(self, into: dict[str, tuple[str, bool]], key: str, term: str, exact: bool) -> None:
        current = into.get(key)
        if current is None or (exact and not current[1]):
            into[key] = (term, exact)


async def _find(
    redis: aioredis.Redis, keys: RedisKeys, viewer_id: str, q: str, kinds: Sequence[str]
) -> _Found:
    short, typos = search.has_top_list(q), search.typo_prefixes(q)
    cap = search.MAX_CANDIDATES
    async with redis.pipeline(transaction=False) as pipe:
        for kind in kinds:
            lex = keys.search_users() if kind == USER else keys.search_tags()
            pipe.zrangebylex(lex, *_range(q), start=0, num=cap + 1)
            if short:
                top = keys.search_users_top(q) if kind == USER else keys.search_tags_top(q)
                pipe.zrevrange(top, 0, search.TOP_K - 1)
            if typos:
                _RANGES.queue(pipe, [lex], [search.TYPO_SCAN_LIMIT, *typos])
        if USER in kinds and len(q) <= GRAPH_SCAN_CHARS:
            graph = [keys.following(viewer_id), keys.followers(viewer_id)]
            _GRAPH_SCAN.queue(pipe, [*graph, keys.search_user_terms()], [q, GRAPH_SCAN_MAX])
        replies = list(await pipe.execute())
    found = _Found()
    for kind in kinds:
        into = found.users if kind == USER else found.tags
        members = replies.pop(0)
        top = replies.pop(0) if short else []
        typo = replies.pop(0) if typos else []
        if len(members) > cap and short:
            members = []  # too many to rank: the prefix's most popular instead
            if kind == USER:
                found.unchecked.update(top)
        for member in members[:cap]:
            term, key = _split_member(member) if kind == USER else (member, member)
            found.add(into, key, term, True)
        if kind == HASHTAG:
            for tag in top if len(members) == 0 else ():
                found.add(into, tag, tag, True)
        for member in typo:
            term, key = _split_member(member) if kind == USER else (member, member)
            exact = search.matches(q, term)
            if exact is not None:
                found.add(into, key, term, exact)
    if replies:
        flat = replies.pop(0)
        for i in range(0, len(flat), 3):
            user_id, term, side = flat[i], flat[i + 1], int(flat[i + 2])
            found.add(found.users, user_id, term, True)
            found.sides[user_id] = min(side, found.sides.get(user_id, side))
    return found


@dataclass(frozen=True)
class _Facts:
    counts: dict[str, tuple[int, int, int]]  # user -> followers, following, posts
    tag_posts: dict[str, int]


async def _rank(
    redis: aioredis.Redis, keys: RedisKeys, viewer_id: str, q: str, found: _Found
) -> tuple[list[Candidate], _Facts]:
    users = list(dict.fromkeys([*found.users, *found.unchecked]))
    tags = list(found.tags)
    async with redis.pipeline(transaction=False) as pipe:
        if users:
            pipe.smismember(keys.blocked(viewer_id), users)
            pipe.smismember(keys.following(viewer_id), users)
            pipe.smismember(keys.followers(viewer_id), users)
            pipe.hmget(keys.search_user_terms(), users)
            for user_id in users:
                pipe.hmget(keys.user_counts(user_id), "followers", "following", "posts")
        if tags:
            pipe.hmget(keys.search_tag_posts(), tags)
        replies = list(await pipe.execute())
    candidates: list[Candidate] = []
    counts: dict[str, tuple[int, int, int]] = {}
    if users:
        blocked, follows, followed_by, terms, *rows = replies[: 4 + len(users)]
        replies = replies[4 + len(users) :]
        for i, user_id in enumerate(users):
            if blocked[i] or terms[i] is None:
                continue  # hidden either way, or no longer indexed (deleted, renamed)
            own = terms[i].split(SEARCH_TERMS_JOIN)
            match = found.users.get(user_id)
            if match is None or match[0] not in own:
                best = _best_term(q, own)
                if best is None:
                    continue  # a top-list member whose terms moved on
                match = best
            followers, following, posts = (int(v or 0) for v in rows[i])
            counts[user_id] = (followers, following, posts)
            tier = search.tier_of(follows=bool(follows[i]), followed_by=bool(followed_by[i]))
            candidates.append(
                Candidate(
                    USER,
                    user_id,
                    match[0],
                    match[1],
                    followers,
                    tier,
                    mutual=bool(follows[i] and followed_by[i]),
                )
            )
    tag_posts: dict[str, int] = {}
    if tags:
        for tag, posts_count in zip(tags, replies.pop(0), strict=True):
            if posts_count is None or int(posts_count) <= 0:
                continue
            tag_posts[tag] = int(posts_count)
            term, exact = found.tags[tag]
            candidates.append(Candidate(HASHTAG, tag, term, exact, int(posts_count)))
    return search.rank(candidates), _Facts(counts, tag_posts)


def _best_term(q: str, terms: Sequence[str]) -> tuple[str, bool] | None:
    best: tuple[str, bool] | None = None
    for term in terms:
        exact = search.matches(q, term)
        if exact is not None and (best is None or (exact and not best[1])):
            best = (term, exact)
    return best


_RELATIONS = {search.FOLLOWING: "following", search.FOLLOWER: "follower"}


async def _hydrate(
    redis: aioredis.Redis,
    keys: RedisKeys,
    viewer_id: str,
    page: Sequence[Candidate],
    facts: _Facts,
    now_ms: int,
) -> list[SearchResultPublic]:
    user_ids = [c.key for c in page if c.kind == USER]
    owners = await read_ties(redis, keys, viewer_id, user_ids)
    tags = [c.key for c in page if c.kind == HASHTAG]
    trending: dict[str, int] = {}
    if tags:
        async with redis.pipeline(transaction=False) as pipe:
            for tag in tags:
                pipe.zcount(keys.hashtag_users(tag), f"({now_ms - _TRENDING_WINDOW_MS}", "+inf")
            trending = dict(zip(tags, await pipe.execute(), strict=True))
    out = []
    for c in page:
        match = "prefix" if c.exact else "typo"
        relation = _RELATIONS.get(c.tier, "none")
        if c.kind == USER:
            owner = owners[c.key]
            # The one policy: a deleted account or a block either way is never shown.
            if not may_see_account(owner.relation, owner.account):
                continue
            followers, following, posts = facts.counts[c.key]
            card = UserProfilePublic(
                **owner.profile.model_dump(),
                followers=followers,
                following=following,
                posts=posts,
            )
            out.append(SearchResultPublic(kind=USER, match=match, relation=relation, user=card))
        else:
            tag = HashtagMatchPublic(
                tag=c.key, posts=facts.tag_posts[c.key], trending=int(trending[c.key])
            )
            out.append(SearchResultPublic(kind=HASHTAG, match=match, relation="none", hashtag=tag))
    return out


async def read_search(
    redis: aioredis.Redis,
    keys: RedisKeys,
    *,
    viewer_id: str,
    q: str,
    kind: str,
    limit: int,
    cursor: str | None,
    now_ms: int,
) -> SearchPage:
    """A page of users and/or hashtags matching ``q``, best first (``domain.search``);
    ``InvalidCursor`` for a cursor of another query."""
    query = search.normalize_query(q)
    offset = search.decode_search_cursor(cursor, query, kind) if cursor else 0
    if not query:
        return SearchPage(data=[])
    kinds = search.KINDS if kind == "all" else (USER if kind == "users" else HASHTAG,)
    found = await _find(redis, keys, viewer_id, query, kinds)
    ranked, facts = await _rank(redis, keys, viewer_id, query, found)
    page, next_offset = search.page_of(ranked, offset, limit)
    data = await _hydrate(redis, keys, viewer_id, page, facts, now_ms)
    next_cursor = (
        search.encode_search_cursor(query, kind, next_offset) if next_offset is not None else None
    )
    return SearchPage(data=data, next_cursor=next_cursor)
