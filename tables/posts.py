"""Exact post state, changelog-backed, in the posts topic's partitions (by author).

``media_outcomes`` and ``media_waiters`` are keyed by media id but written only from
the owner's partition (media results are re-keyed by owner first), so a post and the
media it waits for always meet in one partition. The four are written a batch at a
time (``streams.changelog``).
"""

from __future__ import annotations

from clients.kafka import producer_config
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

media_waiters = app.Table(
    "media_waiters",
    key_type=str,
    partitions=POSTS.partitions,
    help="media_id -> post ids waiting for it",
)

post_counts = app.Table(
    "post_counts",
    default=int,
    key_type=str,
    value_type=int,
    partitions=POSTS.partitions,
    help="author_id -> posts not deleted",
)

# Written a batch at a time by ``agents.posts`` (``streams.changelog``).
records_log = BatchedChangelog(post_records, producer_config(settings))
outcomes_log = BatchedChangelog(media_outcomes, producer_config(settings))
waiters_log = BatchedChangelog(media_waiters, producer_config(settings))
counts_log = BatchedChangelog(post_counts, producer_config(settings))
