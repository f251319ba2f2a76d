"""The home feed: candidates ∪ celebrity tails → filtered → ranked → hydrated.

A first page gathers at most ``feed_cap`` pushed candidates (for a viewer returning
after a while, merged from the followees' tails on read), the newest posts of up to
``MAX_PULLED`` celebrity followees and the viewer's own posts in two pipelined round
trips, ranks the newest ``feed_rank_window`` of them within the ranking budget, and
stores the rest of this scroll's order in one short-lived Redis string: later pages
are slices of it, so there are no duplicates and no gaps while new posts arrive (they
show up on the next first page). Visibility is re-checked on every page. Marking the viewer active is
the worker's, on the feed_opened event the route sends.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from api.readers.engagement import read_counts
from api.readers.posts import hydrate_posts
from domain.clock import SECOND_MS
from domain.cursors import decode_cursor, encode_cursor, int_field, str_field
from domain.errors import Expired, NotFound
from domain.feeds import (
    PULL,
    PUSH,
    RECOMMENDED,
    BlendedRanker,
    Candidate,
    Ranker,
    by_recency,
    decode_entry,
    encode_entry,
    engagement_score,
    is_returning,
    merge_candidates,
    newest,
    rank_within_budget,
    surface_of,
)
from schemas.redis_keys import RedisKeys
from schemas.views import FeedPage, PostPublic
from settings import Settings

logger = logging.getLogger(__name__)

# Celebrity tails merged per read; beyond this a viewer's celebrities are sampled.
MAX_PULLED = 50
# Recent posts considered for a viewer who follows nobody.
RECOMMENDED_POOL = 200
# Page fills that hydrate again when filters removed entries.
MAX_FILL_ROUNDS = 3

DEFAULT_RANKER: Ranker = BlendedRanker()


def _candidates(entries: list[tuple[str, float]], source: str) -> list[Candidate]:
    return [Candidate(post_id, int(score), source) for post_id, score in entries]


async def _merged_tails(
    redis: aioredis.Redis, keys: RedisKeys, cap: int, followees: set[str]
) -> list[tuple[str, float]]:
    """A returning viewer's candidates, merged from the followees' newest posts on read:
    fan-out skipped them while idle, and the worker rebuilds their stored feed once the
    feed_opened this read sends lands (``agents.users``)."""
    if not followees:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for followee in sorted(followees):
            pipe.zrevrange(keys.author_posts(followee), 0, cap - 1, withscores=True)
        tails = await pipe.execute()
    return [(post, float(ms)) for post, ms in newest([e for tail in tails for e in tail], cap)]


async def gather_candidates(
    redis: aioredis.Redis, keys: RedisKeys, s: Settings, viewer_id: str, now_ms: int
) -> tuple[list[Candidate], float | None]:
    """Pushed candidates ∪ celebrity tails ∪ own posts (or recommendations), newest
    first; with when the viewer last opened their feed."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zscore(keys.active_users(), viewer_id)
        pipe.scard(keys.following(viewer_id))
        pipe.sinter(keys.following(viewer_id), keys.celebrities())
        pipe.zrevrange(keys.feed(viewer_id), 0, s.feed_cap - 1, withscores=True)
        pipe.zrevrange(keys.author_posts(viewer_id), 0, s.feed_pull_tail - 1, withscores=True)
        pipe.zrevrange(keys.author_pending(viewer_id), 0, s.feed_pull_tail - 1, withscores=True)
        pipe.hget(keys.user(viewer_id), "deleted")
        last_seen, following, celebs, pushed, own, pending, deleted = await pipe.execute()
    if deleted == "1":  # an account being deleted, with a token that has not expired yet
        raise NotFound("feed")
    if is_returning(last_seen, now_ms, s.inactive_after_days):
        followees = set(await redis.smembers(keys.following(viewer_id)))
        pushed = await _merged_tails(redis, keys, s.feed_cap, followees - set(celebs))
    pulled_from = sorted(celebs)[:MAX_PULLED]
    async with redis.pipeline(transaction=False) as pipe:
        for celeb in pulled_from:
            pipe.zrevrange(keys.author_posts(celeb), 0, s.feed_pull_tail - 1, withscores=True)
        if not following:
            pipe.zrevrange(keys.recent_posts(), 0, RECOMMENDED_POOL - 1, withscores=True)
        tails = await pipe.execute() if (pulled_from or not following) else []
    recommended = tails.pop() if not following else []
    candidates = merge_candidates(
        _candidates(pushed, PUSH),
        _candidates([e for tail in tails for e in tail] + own + pending, PULL),
        _candidates([e for e in recommended], RECOMMENDED),
        cap=s.feed_cap + s.feed_pull_tail,
    )
    return candidates, last_seen


async def rank_candidates(
    redis: aioredis.Redis,
    keys: RedisKeys,
    s: Settings,
    candidates: list[Candidate],
    now_ms: int,
    ranker: Ranker = DEFAULT_RANKER,
) -> list[Candidate]:
    """Rank the newest window by recency blended with engagement; the rest by recency."""
    window, rest = candidates[: s.feed_rank_window], candidates[s.feed_rank_window :]
    started = time.perf_counter()
    budget_s = s.ranking_budget_ms / SECOND_MS
    try:
        counts = await asyncio.wait_for(
            read_counts(redis, keys, [c.post_id for c in window]), budget_s
        )
    except TimeoutError:
        logger.warning("engagement counts took over %.0f ms; recency order", s.ranking_budget_ms)
        return by_recency(candidates)
    engagement = {
        post_id: engagement_score(c.likes, c.comments, c.saves, c.shares)
        for post_id, c in counts.items()
    }
    spent_ms = (time.perf_counter() - started) * SECOND_MS
    order, _ = rank_within_budget(
        ranker,
        window,
        engagement,
        now_ms=now_ms,
        budget_ms=max(0.0, s.ranking_budget_ms - spent_ms),
    )
    return order + rest


async def _fill(
    redis: aioredis.Redis,
    keys: RedisKeys,
    viewer_id: str,
    entries: list[Candidate],
    limit: int,
) -> tuple[list[PostPublic], int]:
    """Hydrate entries in order until ``limit`` posts survive; returns (posts, consumed)."""
    posts: list[PostPublic] = []
    consumed = 0
    for _ in range(MAX_FILL_ROUNDS):
        if len(posts) >= limit or consumed >= len(entries):
            break
        need = limit - len(posts)
        chunk = entries[consumed : consumed + need + need // 2 + 2]
        # Followed sources must still be followed and not muted; recommendations pass the
        # discovery rule (``domain.feeds.surface_of``).
        by_id = {
            p.post_id: p
            for p in await hydrate_posts(
                redis,
                keys,
                viewer_id,
                [c.post_id for c in chunk],
                sources={c.post_id: c.source for c in chunk},
                surfaces={c.post_id: surface_of(c.source) for c in chunk},
            )
        }
        for i, candidate in enumerate(chunk):
            post = by_id.get(candidate.post_id)
            if post is not None:
                posts.append(post)
                if len(posts) == limit:
                    return posts, consumed + i + 1
        consumed += len(chunk)
    return posts, consumed


@dataclass(frozen=True)
class FeedRead:
    page: FeedPage
    first_page: bool
    last_seen_ms: float | None  # when the viewer last opened their feed (first pages)


async def read_feed(
    redis: aioredis.Redis,
    keys: RedisKeys,
    settings: Settings,
    viewer_id: str,
    *,
    now_ms: int,
    limit: int,
    cursor: str | None,
    ranker: Ranker = DEFAULT_RANKER,
) -> FeedRead:
    """One page of the viewer's feed: a first page ranks, later pages slice its scroll.

    The one thing a read writes is the scroll's fixed order: a short-lived cache of this
    read, never state. ``InvalidCursor`` for a cursor this list did not make;
    ``Expired`` when the scroll's order is gone (past ``feed_session_ttl_s``).
    """
    if cursor is None:
        candidates, last_seen = await gather_candidates(redis, keys, settings, viewer_id, now_ms)
        ranked = await rank_candidates(redis, keys, settings, candidates, now_ms, ranker)
        posts, consumed = await _fill(redis, keys, viewer_id, ranked, limit)
        if consumed >= len(ranked):
            return FeedRead(FeedPage(data=posts, next_cursor=None), True, last_seen)
        session_id = secrets.token_hex(6)
        # The rest of the scroll as one string: one cheap write, whatever its length.
        scroll = orjson.dumps([encode_entry(c) for c in ranked[consumed:]])
        await redis.set(
            keys.feed_session(viewer_id, session_id), scroll, ex=settings.feed_session_ttl_s
        )
        page = FeedPage(data=posts, next_cursor=encode_cursor(s=session_id, o=0))
        return FeedRead(page, True, last_seen)
    fields = decode_cursor(cursor, "s", "o")
    session_id, offset = str_field(fields, "s"), int_field(fields, "o")
    raw = await redis.get(keys.feed_session(viewer_id, session_id))
    if raw is None:
        raise Expired("this feed cursor expired; load the first page again")
    scroll: list[str] = orjson.loads(raw)
    total = len(scroll)
    entries = [decode_entry(e) for e in scroll[offset : offset + limit * 2 + 10]]
    posts, consumed = await _fill(redis, keys, viewer_id, entries, limit)
    next_offset = offset + consumed
    page = FeedPage(
        data=posts,
        next_cursor=encode_cursor(s=session_id, o=next_offset) if next_offset < total else None,
    )
    return FeedRead(page, False, None)
