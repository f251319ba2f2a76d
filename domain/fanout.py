"""Fan-out: who receives a post or a story when it is published, and what a follow pushes.

Hybrid fan-out. An author below ``celebrity_threshold`` followers has each ready post
pushed into the feed of every *active* follower (seen within ``inactive_after_days``);
an idle follower gets none and has their feed rebuilt from the tails when they return.
A celebrity's posts are pushed to nobody: readers merge the celebrity's tail at read
time. Nobody receives anything from an author they are blocked with, either way, or
whom they muted. Stories go to every follower the author may reach, close-friends
stories to the author's close friends only.

The sinks apply these decisions; the read path re-checks visibility at every read, so
a stale decision (a follow that ended a moment later) can never show what is hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from domain.clock import DAY_MS


@dataclass(frozen=True)
class Audience:
    """The author's followers and what decides which of them receive something."""

    author_id: str
    followers: tuple[str, ...]
    last_seen_ms: Mapping[str, float | None] = field(default_factory=dict)  # follower → ms
    hidden: frozenset[str] = frozenset()  # blocked with the author, either way
    muted_by: frozenset[str] = frozenset()  # followers who muted the author
    close_friends: frozenset[str] = frozenset()  # the author's close friends


@dataclass(frozen=True)
class PostFanOut:
    """Push to ``recipients``, or (a celebrity) to nobody: readers pull the post."""

    pulled: bool
    recipients: tuple[str, ...]


def is_celebrity(follower_count: int, threshold: int) -> bool:
    """At or above the threshold an author's posts are pulled at read time, never pushed."""
    return follower_count >= threshold


def demoted(followers_before: int, followers_after: int, threshold: int) -> bool:
    """The author just stopped being a celebrity.

    Their posts made meanwhile reached followers only by being pulled at read time,
    which stops now: the newest of them must be pushed, or they vanish from feeds.
    """
    return is_celebrity(followers_before, threshold) and not is_celebrity(
        followers_after, threshold
    )


def active_cutoff_ms(now_ms: int, inactive_after_days: int) -> int:
    """Followers last seen before this get no pushes; their feed is rebuilt on return."""
    return now_ms - inactive_after_days * DAY_MS


def is_active(last_seen_ms: float | None, *, now_ms: int, inactive_after_days: int) -> bool:
    return last_seen_ms is not None and last_seen_ms >= active_cutoff_ms(
        now_ms, inactive_after_days
    )


# A viewer's feed openings mark them active at most this often (the API sends one
# feed_opened per interval; the index is about days, not seconds).
ACTIVITY_MARK_INTERVAL_MS = 60_000


def needs_activity_mark(last_seen_ms: float | None, now_ms: int) -> bool:
    """Whether a feed opening should be sent to mark the viewer active now."""
    return last_seen_ms is None or now_ms - last_seen_ms >= ACTIVITY_MARK_INTERVAL_MS


def _reachable(audience: Audience) -> Iterable[str]:
    for follower in audience.followers:
        if follower == audience.author_id or follower in audience.hidden:
            continue
        yield follower


def post_recipients(
    audience: Audience, *, now_ms: int, celebrity_threshold: int, inactive_after_days: int
) -> PostFanOut:
    """Whose feeds a ready post is pushed into."""
    if is_celebrity(len(audience.followers), celebrity_threshold):
        return PostFanOut(pulled=True, recipients=())
    recipients = tuple(
        f
        for f in _reachable(audience)
        if f not in audience.muted_by
        and is_active(
            audience.last_seen_ms.get(f), now_ms=now_ms, inactive_after_days=inactive_after_days
        )
    )
    return PostFanOut(pulled=False, recipients=recipients)


def demotion_recipients(
    audience: Audience, *, now_ms: int, inactive_after_days: int
) -> tuple[str, ...]:
    """Who gets a demoted author's newest posts: the active followers, as a post would."""
    return tuple(
        f
        for f in _reachable(audience)
        if f not in audience.muted_by
        and is_active(
            audience.last_seen_ms.get(f), now_ms=now_ms, inactive_after_days=inactive_after_days
        )
    )


def story_recipients(audience: Audience, *, close_friends_only: bool) -> tuple[str, ...]:
    """Whose trays a new story reaches (every follower, idle or not: trays are small)."""
    return tuple(
        f
        for f in _reachable(audience)
        if f not in audience.muted_by and (not close_friends_only or f in audience.close_friends)
    )


def backfills_on_follow(
    *,
    followee_followers: int,
    follower_last_seen_ms: float | None,
    now_ms: int,
    celebrity_threshold: int,
    inactive_after_days: int,
) -> bool:
    """A new follow copies the followee's newest posts into the follower's feed, unless
    the followee is a celebrity (pulled anyway) or the follower is idle (rebuilt later)."""
    return not is_celebrity(followee_followers, celebrity_threshold) and is_active(
        follower_last_seen_ms, now_ms=now_ms, inactive_after_days=inactive_after_days
    )
