"""Trending hashtags: the exact state behind the counts (changelog-backed Faust tables).

``post_hashtags`` lives on the posts partitions (keyed like the posts topic, by
author) and remembers each post's tags so a ``post_deleted`` can be re-keyed to
every tag it carried. ``tag_user_uses`` lives on the hashtags partitions (keyed by
tag) and holds each (tag, user)'s live uses within the longest window. Both are
written a batch at a time (``streams.changelog``): the store at once, the changelog
once per changed key per batch.
"""

from __future__ import annotations

from typing import Any

from clients.kafka import producer_config
from schemas.topics import HASHTAGS, POSTS
from streams.app import app, settings
from streams.changelog import BatchedChangelog

post_hashtags = app.Table(
    "post_hashtags",
    key_type=str,
    partitions=POSTS.partitions,
    help="post_id -> {tags, author_id, created_ms, deleted}",
)

tag_user_uses = app.Table(
    "tag_user_uses",
    partitions=HASHTAGS.partitions,
    help="(tag, user_id) -> {post_id: created_ms} live uses over the last 7 days",
)

post_tags_log = BatchedChangelog(post_hashtags, producer_config(settings))
uses_log = BatchedChangelog(tag_user_uses, producer_config(settings))


def post_tags_of(post_id: str) -> dict[str, Any] | None:
    """What the re-key knows of a post: its tags, author, creation, deletion."""
    return post_tags_log.raw.get(post_id)  # type: ignore[no-any-return]


def uses_of(tag: str, user_id: str) -> dict[str, int]:
    """The user's live uses of the tag (post_id -> created ms); empty when none."""
    return uses_log.raw.get((tag, user_id)) or {}
