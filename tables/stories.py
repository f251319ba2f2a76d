"""Stories: the exact state behind trays and receipts (changelog-backed Faust tables).

``author_stories`` lives on the stories partitions (keyed by author) and lists each
author's stories not yet expired or deleted; the sweeper reads it. ``story_first_views``
and ``story_view_counts`` live on the story-views partitions (keyed by story): one
entry per (story, viewer) makes a view idempotent, and the count is exact.
"""

from __future__ import annotations

from schemas.topics import STORIES, STORY_VIEWS
from streams.app import app

author_stories = app.Table(
    "author_stories",
    key_type=str,
    partitions=STORIES.partitions,
    help="author_id -> [[story_id, created_ms, close_friends_only], ...] oldest first",
)

story_first_views = app.Table(
    "story_first_views",
    partitions=STORY_VIEWS.partitions,
    help="(story_id, viewer_id) -> ms of the viewer's first view",
)

story_view_counts = app.Table(
    "story_view_counts",
    key_type=str,
    default=int,
    partitions=STORY_VIEWS.partitions,
    help="story_id -> exact number of distinct viewers",
)
