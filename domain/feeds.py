"""Home-feed logic without I/O, on the read side: candidates, visibility, ranking.

The read path calls these with values fetched from Redis. Who receives a post when it
is published is ``domain.fanout``'s; what a reader may see is decided here again at
every read, so a stale push can never show a hidden post.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from domain.fanout import active_cutoff_ms
from domain.visibility import DISCOVERY, FEED

PUSH = "push"
PULL = "pull"
RECOMMENDED = "recommended"
SOURCES = (PUSH, PULL, RECOMMENDED)


class Candidate(NamedTuple):
    """One post a feed may show; a tuple, as a first page makes a thousand of them."""

    post_id: str
    created_ms: int
    source: str


# --- returning viewers --------------------------------------------------------------


def is_returning(last_seen_ms: float | None, now_ms: int, inactive_after_days: int) -> bool:
    """A viewer never seen, or idle past the cutoff, has a feed fan-out skipped."""
    return last_seen_ms is None or last_seen_ms < active_cutoff_ms(now_ms, inactive_after_days)


# --- candidates -------------------------------------------------------------------------


def _order(candidate: Candidate) -> tuple[int, str]:
    return (candidate.created_ms, candidate.post_id)


def merge_candidates(*sources: Iterable[Candidate], cap: int) -> list[Candidate]:
    """Union of candidate lists, newest first, one entry per post (the first source wins)."""
    seen: dict[str, Candidate] = {}
    for source in sources:
        for candidate in source:
            seen.setdefault(candidate.post_id, candidate)
    return sorted(seen.values(), key=_order, reverse=True)[:cap]


def newest(entries: Iterable[tuple[str, float]], cap: int) -> list[tuple[str, int]]:
    """(post_id, score) pairs from several sorted sets -> the ``cap`` newest, deduplicated."""
    best: dict[str, int] = {}
    for post_id, score in entries:
        best[post_id] = max(int(score), best.get(post_id, 0))
    return sorted(best.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:cap]


# --- visibility ---------------------------------------------------------------------------


def surface_of(source: str) -> str:
    """Which visibility rule a candidate passes (``domain.visibility``): followed sources
    the feed's (still followed, not muted), recommendations the discovery one."""
    return DISCOVERY if source == RECOMMENDED else FEED


# --- ranking ------------------------------------------------------------------------------


class Ranker(Protocol):
    """Orders candidates; may look at ``deadline()`` and give up by raising ``TimeoutError``."""

    def __call__(
        self,
        candidates: Sequence[Candidate],
        engagement: Mapping[str, float],
        *,
        now_ms: int,
        deadline: Callable[[], bool],
    ) -> list[Candidate]: ...


def engagement_score(likes: int, comments: int, saves: int = 0, shares: int = 0) -> float:
    """Comments, saves and shares say more than a like."""
    return likes + 3.0 * comments + 4.0 * saves + 5.0 * shares


@dataclass(frozen=True)
class BlendedRanker:
    """Recency decay times a log boost from engagement: a day-old post needs real traction
    to beat a fresh one, and a post with no counts yet is ranked by recency alone."""

    half_life_h: float = 6.0
    engagement_weight: float = 0.5

    def __call__(
        self,
        candidates: Sequence[Candidate],
        engagement: Mapping[str, float],
        *,
        now_ms: int,
        deadline: Callable[[], bool],
    ) -> list[Candidate]:
        decay = math.log(2) / (self.half_life_h * 3600 * 1000)
        scored = []
        for i, candidate in enumerate(candidates):
            if i % 64 == 0 and deadline():
                raise TimeoutError("ranking budget spent")
            age_ms = max(0, now_ms - candidate.created_ms)
            boost = 1.0 + self.engagement_weight * math.log1p(engagement.get(candidate.post_id, 0))
            scored.append((math.exp(-decay * age_ms) * boost, candidate.created_ms, candidate))
        scored.sort(key=lambda s: (s[0], s[1], s[2].post_id), reverse=True)
        return [s[2] for s in scored]


def by_recency(candidates: Iterable[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=_order, reverse=True)


def rank_within_budget(
    ranker: Ranker,
    candidates: Sequence[Candidate],
    engagement: Mapping[str, float],
    *,
    now_ms: int,
    budget_ms: float,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[Candidate], bool]:
    """Rank, or fall back to recency when the ranker fails or overruns its budget.

    Returns (order, ranked) where ``ranked`` is False for the fallback.
    """
    started = clock()

    def deadline() -> bool:
        return (clock() - started) * 1000 > budget_ms

    try:
        order = ranker(candidates, engagement, now_ms=now_ms, deadline=deadline)
    except Exception:
        return by_recency(candidates), False
    if deadline() or len(order) != len(candidates):
        return by_recency(candidates), False
    return order, True


# --- session entries and cursors ---------------------------------------------------------


def encode_entry(candidate: Candidate) -> str:
    return f"{candidate.source}:{candidate.created_ms}:{candidate.post_id}"


def decode_entry(entry: str) -> Candidate:
    source, created, post_id = entry.split(":", 2)
    return Candidate(post_id=post_id, created_ms=int(created), source=source)
