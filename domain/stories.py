"""Stories: the 24 h lifetime, who may see a story, and how a tray is ordered (pure).

Expiry is decided here from the story's own ``occurred_at`` and a ``now`` argument,
so every reader applies the same rule whatever the sweeper has done. A viewer's tray
holds one entry per author: the newest story of that author the viewer may see.
Close friends are the authors who count the viewer among their close friends (the
people whose close-friends stories the viewer receives); they come first, then
authors with something unseen, then the most recent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from domain.fanout import Audience

STORY_TTL_MS = 24 * 3_600_000
# The product limit of live stories per author; the oldest leave the state first.
MAX_LIVE_STORIES_PER_AUTHOR = 100


@dataclass(frozen=True)
class LiveStory:
    story_id: str
    created_ms: int
    close_friends_only: bool

    def to_row(self) -> list[object]:
        return [self.story_id, self.created_ms, self.close_friends_only]

    @classmethod
    def from_row(cls, row: Sequence[object]) -> LiveStory:
        return cls(str(row[0]), int(row[1]), bool(row[2]))  # type: ignore[call-overload]


@dataclass(frozen=True)
class TrayCandidate:
    author_id: str
    latest_ms: int  # newest story of the author this viewer may see
    seen_up_to_ms: int | None  # newest story of the author the viewer has watched
    close_friend: bool

    @property
    def has_unseen(self) -> bool:
        return self.seen_up_to_ms is None or self.latest_ms > self.seen_up_to_ms


def expires_at_ms(created_ms: int) -> int:
    return created_ms + STORY_TTL_MS


def is_live(created_ms: int, now_ms: int) -> bool:
    """Live for exactly 24 h from ``occurred_at``; never served after."""
    return now_ms < expires_at_ms(created_ms)


def live_since_ms(now_ms: int) -> int:
    """Stories created strictly after this instant are live now."""
    return now_ms - STORY_TTL_MS


def add_story(stories: Iterable[LiveStory], story: LiveStory) -> list[LiveStory]:
    """The author's stories after one more (idempotent), oldest first, bounded.

    Expired ones stay until the sweeper expires them, so each gets its ``story_expired``.
    """
    merged = {s.story_id: s for s in stories}
    merged[story.story_id] = story
    ordered = sorted(merged.values(), key=lambda s: (s.created_ms, s.story_id))
    return ordered[-MAX_LIVE_STORIES_PER_AUTHOR:]


def remove_story(stories: Iterable[LiveStory], story_id: str) -> list[LiveStory]:
    return [s for s in stories if s.story_id != story_id]


def expired_stories(stories: Iterable[LiveStory], now_ms: int) -> list[LiveStory]:
    """The stories the sweeper must expire now."""
    return [s for s in stories if not is_live(s.created_ms, now_ms)]


def latest_visible_ms(
    stories: Iterable[LiveStory], *, close_friend: bool, now_ms: int
) -> int | None:
    """The tray score of an author for one viewer; None when nothing is left to see."""
    times = [
        s.created_ms
        for s in stories
        if is_live(s.created_ms, now_ms) and (close_friend or not s.close_friends_only)
    ]
    return max(times) if times else None


def tray_scores(
    stories: Iterable[LiveStory], audience: Audience, *, now_ms: int
) -> dict[str, int | None]:
    """Each reachable follower's tray score for the author now (None: leave the tray),
    after the author's stories changed (one deleted or expired)."""
    stories = list(stories)
    public = latest_visible_ms(stories, close_friend=False, now_ms=now_ms)
    private = latest_visible_ms(stories, close_friend=True, now_ms=now_ms)
    return {
        viewer: private if viewer in audience.close_friends else public
        for viewer in audience.followers
        if viewer != audience.author_id and viewer not in audience.hidden
    }


def tray_sort_key(entry: TrayCandidate) -> tuple[bool, bool, int, str]:
    return (not entry.close_friend, not entry.has_unseen, -entry.latest_ms, entry.author_id)


def order_tray(entries: Iterable[TrayCandidate], now_ms: int) -> list[TrayCandidate]:
    """Close friends first, then unseen before seen, then newest first; expired dropped."""
    return sorted((e for e in entries if is_live(e.latest_ms, now_ms)), key=tray_sort_key)


def view_counts(first_views: Iterable[tuple[tuple[str, str], int | None]]) -> dict[str, int]:
    """Each story's distinct viewers from its first views ((story, viewer) -> ms, None
    once withdrawn): the count is derived state, recomputed after every recovery."""
    counts: dict[str, int] = {}
    for (story_id, _), ms in first_views:
        if ms is not None:
            counts[story_id] = counts.get(story_id, 0) + 1
    return counts
