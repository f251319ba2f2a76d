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
from dataclasses import dataclass
from typing import Any

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
    return _pruned(merged, now_ms)


def remove_use(uses: Mapping[str, int], post_id: str, now_ms: int) -> TagUses:
    """Uses after the post was deleted (a no-op for an unknown post)."""
    left = dict(uses)
    left.pop(post_id, None)
    return _pruned(left, now_ms)


def _pruned(uses: TagUses, now_ms: int) -> TagUses:
    # The common case, every use live and within the bound, skips the sort (the same
    # uses as ``prune_uses``; only their order differs, which no reader depends on).
    if len(uses) <= MAX_USES_PER_USER_TAG and (not uses or in_horizon(min(uses.values()), now_ms)):
        return uses
    return prune_uses(uses, now_ms)


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


# --- the re-key and the counter's decisions -------------------------------------------


@dataclass(frozen=True)
class Routed:
    """What the re-key does with one post event: the post's record after it (kept in
    ``post_hashtags``) and the tags it sends a copy to, with the use's author and time."""

    record: dict[str, Any]
    tags: tuple[str, ...]
    author_id: str = ""
    created_ms: int = 0


def route_created(
    known: Mapping[str, Any] | None, *, author_id: str, caption: str, created_ms: int
) -> Routed | None:
    """A post_created: its tags' copies, or None (no tags, or its author deleted it
    before its creation reached the re-key: it never counts). A replay routes again."""
    if known and known.get("deleted") and known.get("author_id") in (None, author_id):
        return None
    tags = parse_hashtags(caption)
    if not tags:
        return None
    record = {"tags": list(tags), "author_id": author_id, "created_ms": created_ms}
    return Routed(record, tags, author_id, created_ms)


def route_deleted(known: Mapping[str, Any] | None, *, author_id: str) -> Routed | None:
    """A post_deleted: the post marked deleted and a removal to every tag it carried
    (again on a replay: the removal is idempotent); None when not its author's."""
    known = known or {}
    if known.get("author_id", author_id) != author_id:
        return None  # only its author deletes a post
    record = {"author_id": author_id, **known, "deleted": True}
    tags = tuple(known.get("tags") or ())
    if not tags:
        return Routed(record, ())
    return Routed(record, tags, str(known["author_id"]), int(known["created_ms"]))


def copy_fields(extra: Mapping[str, Any]) -> tuple[str, str, int]:
    """(tag, author_id, created_ms) of a re-keyed copy; ``ValueError`` when malformed."""
    try:
        tag, author_id, created_ms = extra["tag"], extra["author_id"], int(extra["created_ms"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a hashtag copy: {exc!r}") from exc
    if not isinstance(tag, str) or not tag or not isinstance(author_id, str) or not author_id:
        raise ValueError("not a hashtag copy: tag and author_id must be non-empty strings")
    return tag, author_id, created_ms


def count_use(
    uses: Mapping[str, int], *, post_id: str, created_ms: int, deleted: bool, now_ms: int
) -> TagUses:
    """A (tag, user)'s live uses after one copy: a deletion removes the post, a creation
    inside the horizon adds it, an older creation changes nothing. Idempotent."""
    if deleted:
        return remove_use(uses, post_id, now_ms)
    if in_horizon(created_ms, now_ms):
        return add_use(uses, post_id, created_ms, now_ms)
    return dict(uses)
