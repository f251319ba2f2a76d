"""Stories: the exact state behind trays and receipts (changelog-backed Faust tables).

``author_stories`` lives on the stories partitions (keyed by author) and lists each
author's stories not yet expired or deleted; the sweeper reads it. ``story_first_views``
and ``story_view_counts`` live on the story-views partitions (keyed by story): one
entry per (story, viewer) makes a view idempotent, and the count is exact. All three
are written a batch at a time (``streams.changelog``); a withdrawn receipt's entry is
kept as None (no first view), so a later view counts again.
"""

from __future__ import annotations

from clients.kafka import producer_config
from schemas.topics import STORIES, STORY_VIEWS
from streams.app import app, settings
from streams.changelog import BatchedChangelog

author_stories = app.Table(
    "author_stories",
    key_type=str,
    partitions=STORIES.partitions,
    help="author_id -> [[story_id, created_ms, close_friends_only], ...] oldest first",
)

story_first_views = app.Table(
    "story_first_views",
    partitions=STORY_VIEWS.partitions,
    help="(story_id, viewer_id) -> ms of the viewer's first view (None once withdrawn)",
)

story_view_counts = app.Table(
    "story_view_counts",
    key_type=str,
    default=int,
    partitions=STORY_VIEWS.partitions,
    help="story_id -> exact number of distinct viewers",
)

author_stories_log = BatchedChangelog(author_stories, producer_config(settings))
first_views_log = BatchedChangelog(story_first_views, producer_config(settings))
view_counts_log = BatchedChangelog(story_view_counts, producer_config(settings))


def first_view_ms(story_id: str, viewer_id: str) -> int | None:
    """When the viewer first watched the story; None if never (or withdrawn)."""
    return first_views_log.raw.get((story_id, viewer_id))  # type: ignore[no-any-return]


def view_count(story_id: str) -> int:
    return int(view_counts_log.raw.get(story_id) or 0)
