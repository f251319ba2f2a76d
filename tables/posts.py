"""Exact post state, changelog-backed, in the posts topic's partitions (by author).

``media_outcomes`` is keyed by media id but written only from the owner's partition
(media results are re-keyed by owner first), so a post and the media it waits for
always meet in one partition. Both tables are written a batch at a time
(``streams.changelog``); the post counts and the waiting posts are derived from them
(``PostIndex``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from clients.kafka import producer_config
from domain.posts import awaited_media, counts_as_post
from schemas.topics import POSTS
from streams.app import app, settings
from streams.changelog import BatchedChangelog

post_records = app.Table(
    "post_records",
    key_type=str,
    partitions=POSTS.partitions,
    help="post_id -> {author_id, created_ms, media, state, reason, version}",
)

media_outcomes = app.Table(
    "media_outcomes",
    key_type=str,
    partitions=POSTS.partitions,
    help="media_id -> {state: ready|failed, reason}",
)


class PostIndex:
    """What the records imply, kept beside them instead of in tables of their own: each
    author's post count and the posts each medium is awaited by.

    Derived, so a crash between the changelog writes of two tables can never leave them
    disagreeing with the records (``recompute`` after every recovery); changed with
    every record write by ``changed``.
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.waiters: dict[str, list[str]] = {}

    def changed(
        self,
        post_id: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any],
        outcomes: Mapping[str, Any],
    ) -> None:
        author = after["author_id"]
        delta = counts_as_post(after) - (before is not None and counts_as_post(before))
        if delta:
            self.counts[author] = self.counts.get(author, 0) + delta
        for media_id in before.get("media") or () if before else ():
            waiting = self.waiters.get(media_id)
            if waiting and post_id in waiting:
                waiting.remove(post_id)
                if not waiting:
                    del self.waiters[media_id]
        for media_id in awaited_media(after, outcomes):
            self.waiters.setdefault(media_id, []).append(post_id)

    def settled(self, media_id: str) -> None:
        """An outcome of ``media_id`` arrived: nobody waits for it any more."""
        self.waiters.pop(media_id, None)

    def recompute(self, records: Iterable[tuple[str, Any]], outcomes: Mapping[str, Any]) -> None:
        self.counts, self.waiters = {}, {}
        for post_id, record in records:
            if record:
                self.changed(post_id, None, record, outcomes)


post_index = PostIndex()

# Written a batch at a time by ``agents.posts`` (``streams.changelog``).
records_log = BatchedChangelog(post_records, producer_config(settings))
outcomes_log = BatchedChangelog(media_outcomes, producer_config(settings))
