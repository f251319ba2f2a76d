"""Search reads: candidates from the index, ranked by ``domain.search``, seen through the policy.

A query costs two round trips whatever its length:

1. one script per kind gathers the candidates and their ranking facts server-side: the
   prefix's range of the lex set (one more than the candidate cap, to know it
   overflowed), the prefix's top list instead when a 1-2 character prefix overflows,
   the ranges one typo away from 4 characters on, and for users the viewer's own graph
   scanned for the prefix (the accounts they follow and that follow them) when it is
   short, each candidate's terms and follower count as indexed, whether the viewer
   follows it or it follows the viewer; candidates blocked either way are left there;
2. the page's accounts through ``api.readers.ties.read_ties`` and ``domain.visibility``
   (a deleted account, or one blocked either way, never appears), then the page's
   exact counts and its tags' trending figures.

Every candidate is checked against the terms it holds now (a top list's members, a
member a rename left behind). A prefix matching more than ``MAX_CANDIDATES`` ranks its
top list (1-2 characters) or its first members in name order (longer prefixes), so a
page never reads a huge range.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from api.readers.ties import read_ties
from clients.lua import Lua
from domain import search
from domain.search import HASHTAG, USER, Candidate
from domain.trending import HOUR_MS
from domain.visibility import may_see_account
from schemas.redis_keys import SEARCH_TERMS_JOIN, RedisKeys
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

# How a candidate was found.
_RANGE, _TYPO_RANGE, _GRAPH = 1, 2, 3

# KEYS: users' lex set, the prefix's top list, the terms hash, blocked(viewer),
# following(viewer), followers(viewer). ARGV: prefix, cap, top list on overflow (0|1),
# graph scan cap (0: none), typo range limit, the typo prefixes joined by the unit
# separator.
# Returns per candidate: id, term ('' from a top list), how, terms value, follows, follower.
_GATHER_USERS = Lua(r"""
local q, cap = ARGV[1], tonumber(ARGV[2])
local seen, order = {}, {}
local function add(id, term, how)
  local c = seen[id]
  if c == nil then
    seen[id] = {term, how}
    order[#order + 1] = id
  elseif how ~= 2 and c[2] == 2 then
    seen[id] = {term, how}
  end
end
local function split(m)
  local at = string.find(m, '\0', 1, true)
  return string.sub(m, at + 1), string.sub(m, 1, at - 1)
end
local members = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. q, '[' .. q .. '\255', 'LIMIT', 0, cap + 1)
if #members > cap and ARGV[3] == '1' then
  for _, id in ipairs(redis.call('ZREVRANGE', KEYS[2], 0, cap - 1)) do add(id, '', 1) end
else
  for i = 1, math.min(#members, cap) do
    local id, term = split(members[i])
    add(id, term, 1)
  end
end
local limit = tonumber(ARGV[5])
for p in string.gmatch(ARGV[6], '[^\31]+') do
  local got = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. p, '[' .. p .. '\255', 'LIMIT', 0, limit)
  for _, m in ipairs(got) do
    local id, term = split(m)
    add(id, term, 2)
  end
end
local gcap = tonumber(ARGV[4])
if gcap > 0 then
  for side = 5, 6 do
    local ids
    if redis.call('SCARD', KEYS[side]) <= gcap then
      ids = redis.call('SMEMBERS', KEYS[side])
    else
      ids = redis.call('SRANDMEMBER', KEYS[side], gcap)
    end
    for _, id in ipairs(ids) do
      local v = redis.call('HGET', KEYS[3], id)
      if v then
        local rest = string.sub(v, string.find(v, '\31', 1, true) + 1)
        for term in string.gmatch(rest, '[^\31]+') do
          if string.sub(term, 1, #q) == q then
            add(id, term, 3)
            break
          end
        end
      end
    end
  end
end
local out = {}
for _, id in ipairs(order) do
  if redis.call('SISMEMBER', KEYS[4], id) == 0 then
    local v = redis.call('HGET', KEYS[3], id)
    if v then
      local c = seen[id]
      out[#out + 1] = id
      out[#out + 1] = c[1]
      out[#out + 1] = c[2]
      out[#out + 1] = v
      out[#out + 1] = redis.call('SISMEMBER', KEYS[5], id)
      out[#out + 1] = redis.call('SISMEMBER', KEYS[6], id)
    end
  end
end
return out
""")

# KEYS: tags' lex set, the prefix's top list. ARGV: prefix, cap, top list on overflow
# (0|1), typo range limit, the typo prefixes joined by the unit separator. Returns tag,
# live posts, how.
_GATHER_TAGS = Lua(r"""
local q, cap = ARGV[1], tonumber(ARGV[2])
local out = {}
local function emit(m, how)
  local at = string.find(m, '\0', 1, true)
  out[#out + 1] = string.sub(m, 1, at - 1)
  out[#out + 1] = string.sub(m, at + 1)
  out[#out + 1] = how
end
local members = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. q, '[' .. q .. '\255', 'LIMIT', 0, cap + 1)
if #members > cap and ARGV[3] == '1' then
  local top = redis.call('ZREVRANGE', KEYS[2], 0, cap - 1, 'WITHSCORES')
  for i = 1, #top, 2 do
    out[#out + 1] = top[i]
    out[#out + 1] = top[i + 1]
    out[#out + 1] = 1
  end
else
  for i = 1, math.min(#members, cap) do emit(members[i], 1) end
end
local limit = tonumber(ARGV[4])
for p in string.gmatch(ARGV[5], '[^\31]+') do
  local got = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. p, '[' .. p .. '\255', 'LIMIT', 0, limit)
  for _, m in ipairs(got) do emit(m, 2) end
end
return out
""")

_TRENDING_WINDOW_MS = 24 * HOUR_MS


def _best_term(q: str, terms: Sequence[str]) -> tuple[str, bool] | None:
    best: tuple[str, bool] | None = None
    for term in terms:
        exact = search.matches(q, term)
        if exact is not None and (best is None or (exact and not best[1])):
            best = (term, exact)
    return best


def _users(q: str, rows: list[object]) -> list[Candidate]:
    out = []
    for i in range(0, len(rows), 6):
        user_id, term, how, value, follows, followed_by = rows[i : i + 6]
        count, *own = str(value).split(SEARCH_TERMS_JOIN)
        if term and term in own:
            exact = True if int(how) != _TYPO_RANGE else search.matches(q, str(term))  # type: ignore[call-overload]
            match = (str(term), exact) if exact is not None else None
        else:  # from a top list, or a member a rename left behind
            match = _best_term(q, own)
        if match is None:
            continue
        tier = search.tier_of(follows=bool(follows), followed_by=bool(followed_by))
        mutual = bool(follows and followed_by)
        out.append(Candidate(USER, str(user_id), match[0], match[1], int(count), tier, mutual))
    return out


def _tags(q: str, rows: list[object]) -> list[Candidate]:
    out = []
    for i in range(0, len(rows), 3):
        tag, posts, how = str(rows[i]), int(float(rows[i + 1])), rows[i + 2]  # type: ignore[arg-type]
        exact = True if how == _RANGE else search.matches(q, tag)
        if exact is not None and posts > 0:
            out.append(Candidate(HASHTAG, tag, tag, exact, posts))
    return out


async def _gather(
    redis: aioredis.Redis, keys: RedisKeys, viewer_id: str, q: str, kinds: Sequence[str]
) -> list[Candidate]:
    # One argument for every typo prefix: a script's arguments cost far more to send
    # one by one than its ranges cost to read.
    short = int(search.has_top_list(q))
    typos = SEARCH_TERMS_JOIN.join(search.typo_prefixes(q))
    cap, limit = search.MAX_CANDIDATES, search.TYPO_SCAN_LIMIT
    async with redis.pipeline(transaction=False) as pipe:
        if USER in kinds:
            graph = GRAPH_SCAN_MAX if len(q) <= GRAPH_SCAN_CHARS else 0
            user_keys = [
                keys.search_users(),
                keys.search_users_top(q),
                keys.search_user_terms(),
                keys.blocked(viewer_id),
                keys.following(viewer_id),
                keys.followers(viewer_id),
            ]
            _GATHER_USERS.queue(pipe, user_keys, [q, cap, short, graph, limit, typos])
        if HASHTAG in kinds:
            tag_keys = [keys.search_tags(), keys.search_tags_top(q)]
            _GATHER_TAGS.queue(pipe, tag_keys, [q, cap, short, limit, typos])
        replies = list(await pipe.execute())
    found = _users(q, replies.pop(0)) if USER in kinds else []
    return found + (_tags(q, replies.pop(0)) if HASHTAG in kinds else [])


_RELATIONS = {search.FOLLOWING: "following", search.FOLLOWER: "follower"}


async def _hydrate(
    redis: aioredis.Redis,
    keys: RedisKeys,
    viewer_id: str,
    page: Sequence[Candidate],
    now_ms: int,
) -> list[SearchResultPublic]:
    user_ids = [c.key for c in page if c.kind == USER]
    owners = await read_ties(redis, keys, viewer_id, user_ids)
    tags = [c.key for c in page if c.kind == HASHTAG]
    async with redis.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.hmget(keys.user_counts(user_id), "followers", "following", "posts")
        for tag in tags:
            pipe.zcount(keys.hashtag_users(tag), f"({now_ms - _TRENDING_WINDOW_MS}", "+inf")
        replies = await pipe.execute() if user_ids or tags else []
    counts = {u: [int(v or 0) for v in row] for u, row in zip(user_ids, replies, strict=False)}
    trending = dict(zip(tags, replies[len(user_ids) :], strict=True))
    out = []
    for c in page:
        match = "prefix" if c.exact else "typo"
        relation = _RELATIONS.get(c.tier, "none")
        if c.kind == USER:
            owner = owners[c.key]
            # The one policy: a deleted account or a block either way is never shown.
            if not may_see_account(owner.relation, owner.account):
                continue
            followers, following, posts = counts[c.key]
            card = UserProfilePublic(
                **owner.profile.model_dump(),
                followers=followers,
                following=following,
                posts=posts,
            )
            out.append(SearchResultPublic(kind=USER, match=match, relation=relation, user=card))
        else:
            tag = HashtagMatchPublic(tag=c.key, posts=c.popularity, trending=int(trending[c.key]))
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
    ranked = search.rank(await _gather(redis, keys, viewer_id, query, kinds))
    page, next_offset = search.page_of(ranked, offset, limit)
    data = await _hydrate(redis, keys, viewer_id, page, now_ms)
    next_cursor = (
        search.encode_search_cursor(query, kind, next_offset) if next_offset is not None else None
    )
    return SearchPage(data=data, next_cursor=next_cursor)
