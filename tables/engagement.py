"""Engagement state: every mark (like, save, comment, share) and each post's lifecycle.

``engagement_marks`` is the exact state the counts are derived from; a post's counts
are the number of its present marks, kept in memory beside the table (``counters``)
and recomputed from it after every recovery. Both tables live in the engagement
topic's partitions (by post) and are written a batch at a time (``streams.changelog``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clients.kafka import producer_config
from domain.engagement import DELETED, LIVE, Mark, counts_from_marks, empty_counts
from schemas.topics import ENGAGEMENT
from streams.app import app, settings
from streams.changelog import BatchedChangelog

engagement_marks = app.Table(
    "engagement_marks",
    partitions=ENGAGEMENT.partitions,
    help="(post_id, kind tag, member) -> [present, occurred_ms, event ids of that ms, since_ms]",
)

post_lifecycle = app.Table(
    "post_lifecycle",
    partitions=ENGAGEMENT.partitions,
    help="post_id -> [live|deleted, occurred_ms]: which posts may be counted",
)

MarkKey = tuple[str, str, str]

marks_log = BatchedChangelog(engagement_marks, producer_config(settings))
lifecycle_log = BatchedChangelog(post_lifecycle, producer_config(settings))


class Counters:
    """Each post's counts (derived from the marks) and what changed since the last flush."""

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}
        self.dirty_posts: set[str] = set()
        # post_id -> user_id -> likes now; projected to the Redis likers set at flush.
        self.dirty_likers: dict[str, dict[str, bool]] = {}

    def add(self, post_id: str, index: int, delta: int) -> None:
        vector = self.counts.get(post_id)
        if vector is None:
            vector = self.counts[post_id] = empty_counts()
        vector[index] += delta

    def take_dirty(self) -> tuple[set[str], dict[str, dict[str, bool]]]:
        """What changed since the last call; the caller puts back what it cannot write."""
        posts, self.dirty_posts = self.dirty_posts, set()
        likers, self.dirty_likers = self.dirty_likers, {}
        return posts, likers

    def put_back(self, posts: Iterable[str], likers: dict[str, dict[str, bool]]) -> None:
        self.dirty_posts.update(posts)
        for post_id, members in likers.items():
            current = self.dirty_likers.setdefault(post_id, {})
            for user_id, liked in members.items():
                current.setdefault(user_id, liked)  # a newer change wins

    def recompute(self, marks: Iterable[tuple[MarkKey, list[Any]]]) -> None:
        """Rebuild from the table after a recovery; everything is flushed again."""
        parsed = {key: Mark.from_json(value) for key, value in marks if value}
        self.counts = counts_from_marks(parsed)
        self.dirty_posts = {key[0] for key in parsed} | set(self.counts)
        self.dirty_likers = {}
        for (post_id, tag, member), mark in parsed.items():
            if tag == "l":
                self.dirty_likers.setdefault(post_id, {})[member] = mark.present


counters = Counters()


def lifecycle_of(post_id: str) -> str | None:
    """live, deleted, or None while the post is unknown to the counters."""
    value = lifecycle_log.raw.get(post_id)
    return value[0] if value else None


def lifecycle_owner(post_id: str) -> str | None:
    """Who the post's lifecycle was recorded for (its author once created); None when
    unknown or recorded before owners were kept."""
    value = lifecycle_log.raw.get(post_id)
    return value[2] if value and len(value) > 2 else None


def is_live(post_id: str) -> bool:
    return lifecycle_of(post_id) == LIVE


def is_deleted(post_id: str) -> bool:
    return lifecycle_of(post_id) == DELETED
