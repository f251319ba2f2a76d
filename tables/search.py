"""Search state: each user's indexed names and each (tag, post)'s liveness.

``search_names`` lives in the users topic's partitions (by user; the graph topic, keyed
by the followed user, shares them) and holds the names a user is indexed under, so a
rename removes exactly the old terms and a deletion all of them. ``search_tag_marks``
lives in the hashtags topic's partitions (by tag); a tag's live post count is the number
of its live marks, kept in memory beside the table (``tag_counts``) and recomputed from
it after every recovery. Both are written a batch at a time (``streams.changelog``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clients.kafka import producer_config
from domain.search import LIVE_POST, NameEntry
from schemas.topics import HASHTAGS, USERS
from streams.app import app, settings
from streams.changelog import BatchedChangelog

search_names = app.Table(
    "search_names",
    partitions=USERS.partitions,
    help="user_id -> [version ms, username, display name, deleted 0|1]: what is indexed",
)

search_tag_marks = app.Table(
    "search_tag_marks",
    partitions=HASHTAGS.partitions,
    help="'tag\\x1fpost_id' -> 1 live | 0 deleted: the posts a tag's count is made of",
)

names_log = BatchedChangelog(search_names, producer_config(settings))
tag_marks_log = BatchedChangelog(search_tag_marks, producer_config(settings))

TAG_POST_SEPARATOR = "\x1f"


def tag_mark_key(tag: str, post_id: str) -> str:
    return f"{tag}{TAG_POST_SEPARATOR}{post_id}"


def name_entry(user_id: str) -> NameEntry | None:
    value = names_log.raw.get(user_id)
    return NameEntry.from_json(value) if value else None


def indexed_terms(user_id: str) -> tuple[str, ...]:
    entry = name_entry(user_id)
    return entry.terms if entry else ()


class TagCounts:
    """Each tag's live post count (derived from the marks)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, tag: str, delta: int) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + delta

    def get(self, tag: str) -> int:
        return self.counts.get(tag, 0)

    def recompute(self, marks: Iterable[tuple[str, Any]]) -> set[str]:
        """Rebuild from the table after a recovery; returns every tag seen."""
        self.counts = {}
        seen = set()
        for key, mark in marks:
            tag = key.split(TAG_POST_SEPARATOR, 1)[0]
            seen.add(tag)
            self.add(tag, int(mark == LIVE_POST))
        return seen


tag_counts = TagCounts()
