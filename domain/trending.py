"""Trending hashtags: parsing captions and sliding-window arithmetic (pure; time is an argument).

Design. Counting is exact and per user, so the state is the set of live uses, not a
number: for every (tag, user) the worker keeps that user's live posts carrying the tag
over the longest window (``TagUses``: post_id -> created ms). A user counts in window W
when their newest live use is inside it, so "each user at most once per tag per window"
and "deleted posts stop counting" both fall out of one value per (tag, user): the
newest live use (``newest_use``). Those values are projected to a sorted set per tag
(user scored by newest use), and the count for any window is a range count over it at
read time, which makes every window truly sliding; no hopping windows, no buckets.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

HOUR_MS = 3_600_000

# Window name -> length in ms; the longest one bounds every piece of state.
WINDOWS_MS: dict[str, int] = {"1h": HOUR_MS, "24h": 24 * HOUR_MS, "7d": 7 * 24 * HOUR_MS}
HORIZON_MS = max(WINDOWS_MS.values())

# Longer tags are truncated rather than rejected (the caption itself is capped at 2200).
MAX_TAG_LENGTH = 100
# A spammer's uses of one tag are bounded: only the newest this many are kept (the
# newest live use is all that counting needs; older ones only matter after deletions).
MAX_USES_PER_USER_TAG = 200

# '#' then Unicode letters, digits and underscores (``\w``); a '#' glued to a word
# ("a#b") or doubled ("##x" counts once as "x") is not a tag start.
_TAG = re.compile(r"(?<![\w#&])#+(\w+)")

TagUses = dict[str, int]  # post_id -> created_at ms


def normalize_tag(text: str) -> str:
    """NFC then case-fold, so "Café", "CAFÉ" and "café" (any composition) are one tag."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())[
        :MAX_TAG_LENGTH
    ]


def parse_hashtags(caption: str) -> tuple[str, ...]:
    """Distinct tags of a caption, in order of first appearance."""
    # NFC first: a decomposed "e + combining acute" must not end the tag at the accent.
    text = unicodedata.normalize("NFC", caption)
    seen: dict[str, None] = {}
    for match in _TAG.finditer(text):
        tag = normalize_tag(match.group(1))
        if tag:
            seen.setdefault(tag, None)
    return tuple(seen)


def window_ms(name: str) -> int:
    """``"1h"`` -> 3 600 000; ``KeyError`` for an unknown window."""
    return WINDOWS_MS[name]


def in_horizon(created_ms: int, now_ms: int) -> bool:
    """Whether a use can still count in some window (not older than the longest one)."""
    return created_ms > now_ms - HORIZON_MS


def add_use(uses: Mapping[str, int], post_id: str, created_ms: int, now_ms: int) -> TagUses:
    """Uses after a post with the tag was created: idempotent, pruned and bounded."""
    merged = {**uses, post_id: created_ms}
    return prune_uses(merged, now_ms)


def remove_use(uses: Mapping[str, int], post_id: str, now_ms: int) -> TagUses:
    """Uses after the post was deleted (a no-op for an unknown post)."""
    return prune_uses({p: ms for p, ms in uses.items() if p != post_id}, now_ms)


def prune_uses(uses: Mapping[str, int], now_ms: int) -> TagUses:
    live = [(ms, p) for p, ms in uses.items() if in_horizon(ms, now_ms)]
    live.sort(reverse=True)
    return {p: ms for ms, p in live[:MAX_USES_PER_USER_TAG]}


def newest_use(uses: Mapping[str, int]) -> int | None:
    """The score of the (tag, user) member: the newest live use, None when none is left."""
    return max(uses.values()) if uses else None


def window_start_ms(name: str, now_ms: int) -> int:
    """Uses strictly newer than this count in the window ending now."""
    return now_ms - WINDOWS_MS[name]


def count_in_window(newest_by_user: Mapping[str, int], name: str, now_ms: int) -> int:
    """Distinct users whose newest live use lies in the window (the reference count)."""
    start = window_start_ms(name, now_ms)
    return sum(1 for ms in newest_by_user.values() if ms > start)


def rank_tags(counts: Mapping[str, int], limit: int) -> list[tuple[str, int]]:
    """Highest count first, ties by tag so the order is stable; zero counts dropped."""
    ranked = sorted(((t, c) for t, c in counts.items() if c > 0), key=lambda tc: (-tc[1], tc[0]))
    return ranked[:limit]
