"""Engagement arithmetic: per-member marks, last-writer-wins, exact counts.

Every counted thing is a *mark* on a post: a like or a save by a user, a comment by
its id, a share by its event id (a ``share_removed`` names that id to undo it). A mark is present or absent and remembers when it was
last set (``occurred_ms``) and the ids of the events applied at that millisecond. The
newest ``occurred_at`` wins; events of one millisecond win in log order (all of one
post's events are in one partition, applied in order), so a like then an unlike sent
in the same millisecond leave the post unliked. An event whose id the mark already
holds is a duplicate or a replay after a crash and changes nothing, and a second like
or an unlike of a post not liked changes no count. A post's count of a kind is the
number of its present marks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from schemas.events import (
    CommentCreated,
    CommentDeleted,
    EventBase,
    Like,
    Save,
    Share,
    ShareRemoved,
    Unlike,
    Unsave,
)

LIKES, COMMENTS, SAVES, SHARES = "likes", "comments", "saves", "shares"
COUNTERS: tuple[str, ...] = (LIKES, COMMENTS, SAVES, SHARES)
# Index of each counter in a post's count vector (and one-letter tag in table keys).
INDEX = {name: i for i, name in enumerate(COUNTERS)}
TAG = {LIKES: "l", COMMENTS: "c", SAVES: "s", SHARES: "h"}
KIND_OF_TAG = {tag: kind for kind, tag in TAG.items()}

# Post lifecycle as seen by the counters.
LIVE, DELETED = "live", "deleted"


class Action(NamedTuple):
    """What one engagement event asks: set ``kind``'s mark of ``member`` on ``post_id``."""

    post_id: str
    kind: str
    member: str
    present: bool


# Events of one millisecond remembered per mark: a microsecond each in ``Mark.version``.
# More ties than this at one millisecond on one mark (a replay of an evicted id could
# then count twice, and the write time stops growing) is the bound of exactness.
MAX_TIED_EVENTS = 1000


class Mark(NamedTuple):
    """A mark's state: present, and the events (ids, in log order) applied at ``ms``.

    ``since_ms`` is when the mark last became present (a save's or comment's time).
    Stored in the Faust table as a JSON list in this order, the ids as one string in
    the usual case of a single event (in memory as a plain tuple, which the cyclic
    garbage collector stops tracking).
    """

    present: bool
    ms: int
    event_ids: tuple[str, ...]
    since_ms: int

    @property
    def version(self) -> int:
        """Microseconds that grow with every change in log order (a store's write time)."""
        return self.ms * 1000 + len(self.event_ids) - 1

    def to_json(self) -> tuple[int, int, str | list[str], int]:
        ids = self.event_ids
        return (
            1 if self.present else 0,
            self.ms,
            ids[0] if len(ids) == 1 else list(ids),
            self.since_ms,
        )

    @classmethod
    def from_json(cls, value: Sequence[object]) -> Mark:
        present, ms, ids, since_ms = value
        event_ids = (ids,) if isinstance(ids, str) else tuple(str(i) for i in ids)  # type: ignore[attr-defined]
        return cls(bool(present), int(ms), event_ids, int(since_ms))  # type: ignore[call-overload]


def action_of(event: EventBase) -> Action | None:
    """The mark an engagement event sets; None for events that count nothing."""
    if isinstance(event, Like | Unlike):
        return Action(event.post_id, LIKES, event.user_id, isinstance(event, Like))
    if isinstance(event, Save | Unsave):
        return Action(event.post_id, SAVES, event.user_id, isinstance(event, Save))
    if isinstance(event, Share):
        # Every share event counts once: the member is the event itself.
        return Action(event.post_id, SHARES, event.event_id, True)
    if isinstance(event, ShareRemoved):
        # Undoes one share: the member of the share event it names.
        return Action(event.post_id, SHARES, event.share_id, False)
    if isinstance(event, CommentCreated | CommentDeleted):
        return Action(event.post_id, COMMENTS, event.comment_id, isinstance(event, CommentCreated))
    return None


@dataclass(frozen=True)
class Change:
    """The new mark and the count delta (-1, 0 or +1) it causes."""

    mark: Mark
    delta: int


def apply(current: Mark | None, *, present: bool, ms: int, event_id: str) -> Change | None:
    """The newest ``ms`` wins, then log order; None for an older, duplicate or replayed event.

    Called in log order, so an event of the mark's own millisecond that the mark has
    not seen came later in the log than every event it holds.
    """
    if current is None or ms > current.ms:
        ids: tuple[str, ...] = (event_id,)
    elif ms < current.ms or event_id in current.event_ids:
        return None
    else:
        ids = (*current.event_ids, event_id)[-MAX_TIED_EVENTS:]
    was = current is not None and current.present
    # since_ms moves only when the mark becomes present (a save's or comment's time).
    since = current.since_ms if current is not None and (was or not present) else ms
    return Change(Mark(present, ms, ids, since), int(present) - int(was))


def empty_counts() -> list[int]:
    return [0] * len(COUNTERS)


def counts_from_marks(marks: dict[tuple[str, str, str], Mark]) -> dict[str, list[int]]:
    """Recompute every post's counts from its marks (after recovery)."""
    counts: dict[str, list[int]] = {}
    for (post_id, tag, _member), mark in marks.items():
        if mark.present:
            vector = counts.setdefault(post_id, empty_counts())
            vector[INDEX[KIND_OF_TAG[tag]]] += 1
    return counts


def new_comment_id(now_ms: int) -> str:
    """A comment id that sorts by creation time (13 hex digits of ms + randomness)."""
    return f"{now_ms:013x}{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class FlushPlan:
    """What one flush writes: absolute counts of live posts, deleted posts cleared,
    likers of live posts; likers of posts not yet known wait for the next flush."""

    live: dict[str, list[int]]
    deleted: list[str]
    likers: dict[str, dict[str, bool]]
    held_likers: dict[str, dict[str, bool]]


def plan_flush(
    dirty_posts: Iterable[str],
    dirty_likers: Mapping[str, Mapping[str, bool]],
    *,
    lifecycle: Callable[[str], str | None],
    counts: Callable[[str], list[int] | None],
) -> FlushPlan:
    """Split what changed since the last flush by each post's lifecycle."""
    live: dict[str, list[int]] = {}
    deleted: list[str] = []
    for post_id in dirty_posts:
        state = lifecycle(post_id)
        if state == LIVE:
            live[post_id] = list(counts(post_id) or empty_counts())
        elif state == DELETED:
            deleted.append(post_id)
    likers: dict[str, dict[str, bool]] = {}
    held: dict[str, dict[str, bool]] = {}
    for post_id, members in dirty_likers.items():
        state = lifecycle(post_id)
        if state == LIVE:
            likers[post_id] = dict(members)
        elif state is None:
            held[post_id] = dict(members)  # the post_created may still be in flight
    return FlushPlan(live, deleted, likers, held)


def merge_pending_like(liked_in_view: bool, pending: str | None) -> bool:
    """Read your own writes: a fresh like/unlike marker wins over the projected state."""
    if pending is None:
        return liked_in_view
    return pending == "1"


def adjust_likes(likes: int, liked_in_view: bool, pending: str | None) -> int:
    """The viewer's own pending like or unlike, reflected in the count they see."""
    if pending is None:
        return likes
    wanted = pending == "1"
    if wanted and not liked_in_view:
        return likes + 1
    if not wanted and liked_in_view:
        return max(0, likes - 1)
    return likes


def lifecycle_after(
    current: str | None, *, deleted: bool, owner: str | None = None, actor: str | None = None
) -> str | None:
    """A post's next lifecycle state for the counters; None when nothing changes.

    Deletion is final: a replayed or late post_created never revives a deleted post.
    Only its author deletes a post: ``owner`` is who the state was recorded for (the
    creator of a live post, the sender of a deletion seen first), ``actor`` the event's
    user. A deletion by anyone else changes nothing, and a tombstone someone else left
    does not keep the author's own post from counting.
    """
    foreign = owner is not None and actor is not None and owner != actor
    if current == DELETED:
        return LIVE if not deleted and foreign else None
    if deleted:
        return None if current == LIVE and foreign else DELETED
    return LIVE if current is None else None
