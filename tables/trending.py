"""Trending hashtags: the exact state behind the counts (changelog-backed Faust tables).

``post_hashtags`` lives on the posts partitions (keyed like the posts topic, by
author) and remembers each post's tags so a ``post_deleted`` can be re-keyed to
every tag it carried. ``tag_user_uses`` lives on the hashtags partitions (keyed by
tag) and holds each (tag, user)'s live uses within the longest window.
"""

from __future__ import annotations

from schemas.topics import HASHTAGS, POSTS
from streams.app import app

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
