"""Account erasure without I/O: what a deleted account still holds, the events that take
it back, and when the sweep acts.

The cascade reads an account's ``Facts`` (``sinks.erasure.read_facts``) and
``compensations`` turns them into the events the owning agents already handle: an
unfollow for each follow either way, a post_deleted for each post, an unlike for each
like, a share_removed for each share, and so on. Their ids derive from the
``account_deleted`` event's id and the fact, so a replay (or a restart after a kill -9)
sends the same events again, which change nothing. Every compensation is an undo:
applying one twice, or one for something already gone, is harmless.

Writes by a deleted account are not refused by the agents (that would cost a read per
event on every hot path); they are erased instead. The cascade runs when the deletion
arrives, again once every access token issued before it has expired (``recheck``), and
again at the end of the grace period, before the sweep removes the account's last
traces (``sweep_step``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

# The ``cause`` carried (as an extra field) by every compensating event.
CAUSE = "account_deleted"


@dataclass(frozen=True)
class Facts:
    """What one account still holds, as read from the graph, posts, stories and
    engagement. Only what a compensation can still undo counts: likes projected on a
    post, saves, shares and comments on posts not deleted (the counters drop events on
    deleted posts; those rows go with the last traces)."""

    user_id: str
    following: frozenset[str] = frozenset()  # accounts the user follows
    followers: frozenset[str] = frozenset()  # accounts following the user
    close_friends: frozenset[str] = frozenset()  # on the user's close-friends list
    close_friend_of: frozenset[str] = frozenset()  # owners whose list holds the user
    blocked: frozenset[str] = frozenset()  # blocked with the user, either way
    muted: frozenset[str] = frozenset()  # accounts the user muted
    muted_by: frozenset[str] = frozenset()  # accounts that muted the user
    requests_received: frozenset[str] = frozenset()  # asked to follow the user
    requests_sent: frozenset[str] = frozenset()  # the user asked to follow them
    posts: frozenset[str] = frozenset()  # the user's posts not deleted yet
    stories: frozenset[str] = frozenset()  # the user's stories not removed yet
    likes: frozenset[str] = frozenset()  # posts the user likes
    saves: frozenset[str] = frozenset()  # posts the user saved
    shares: frozenset[tuple[str, str]] = frozenset()  # (share event id, post id)
    comments: frozenset[tuple[str, str]] = frozenset()  # (comment id, post id)
    views: frozenset[str] = frozenset()  # other people's stories the user viewed

    def empty(self) -> bool:
        return not any(
            getattr(self, name) for name in self.__dataclass_fields__ if name != "user_id"
        )


@dataclass(frozen=True)
class Holdings:
    """Every id the account owned, whatever its state: the last sweep removes their rows
    and hashes even once no index lists them any more."""

    posts: frozenset[str] = frozenset()
    stories: frozenset[str] = frozenset()
    media: frozenset[str] = frozenset()

    def __or__(self, other: Holdings) -> Holdings:
        return Holdings(
            self.posts | other.posts, self.stories | other.stories, self.media | other.media
        )


def compensation_id(base_id: str, event_type: str, *parts: str) -> str:
    """The id of one compensating event: the same for every replay of one cascade."""
    name = "/".join(("erasure", base_id, event_type, *parts))
    return uuid.uuid5(uuid.NAMESPACE_URL, name).hex


def pass_base(event_id: str, label: str) -> str:
    """The id base of one cascade: the deletion itself, ``recheck``, or a sweep pass."""
    return event_id if not label else f"{event_id}/{label}"


def compensations(facts: Facts, *, base_id: str, occurred_at: datetime) -> list[dict[str, Any]]:
    """The events that undo ``facts``, each a mapping for ``schemas.events.make_event``.

    Graph events first, unfollows before anything else: an unmute or a close-friend
    change then finds no follow and brings nothing back into a feed or tray (one
    pair's graph events share a partition, so they apply in this order).
    """
    user = facts.user_id
    out: list[dict[str, Any]] = []

    def emit(event_type: str, actor: str, key_parts: Iterable[str], **fields: Any) -> None:
        parts = tuple(key_parts)
        out.append(
            {
                "type": event_type,
                "event_id": compensation_id(base_id, event_type, *parts),
                "user_id": actor,
                "occurred_at": occurred_at,
                "cause": CAUSE,
                **fields,
            }
        )

    for other in sorted(facts.following):
        emit("unfollow", user, (user, other), target_id=other)
    for other in sorted(facts.followers):
        emit("unfollow", other, (other, user), target_id=user)
    for other in sorted(facts.close_friends):
        emit("close_friend_removed", user, (user, other), target_id=other)
    for other in sorted(facts.close_friend_of):
        emit("close_friend_removed", other, (other, user), target_id=user)
    for other in sorted(facts.requests_sent):
        emit("follow_request_cancelled", user, (user, other), target_id=other)
    for other in sorted(facts.requests_received):
        emit("follow_request_denied", user, (user, other), target_id=other)
    for other in sorted(facts.muted):
        emit("unmute", user, (user, other), target_id=other)
    for other in sorted(facts.muted_by):
        emit("unmute", other, (other, user), target_id=user)
    for other in sorted(facts.blocked):  # either may have blocked: undo both
        emit("unblock", user, (user, other), target_id=other)
        emit("unblock", other, (other, user), target_id=user)
    for post_id in sorted(facts.posts):
        emit("post_deleted", user, (post_id,), post_id=post_id)
    for story_id in sorted(facts.stories):
        emit("story_deleted", user, (story_id,), story_id=story_id)
    for post_id in sorted(facts.likes):
        emit("unlike", user, (post_id,), post_id=post_id)
    for post_id in sorted(facts.saves):
        emit("unsave", user, (post_id,), post_id=post_id)
    for share_id, post_id in sorted(facts.shares):
        emit("share_removed", user, (share_id,), post_id=post_id, share_id=share_id)
    for comment_id, post_id in sorted(facts.comments):
        emit("comment_deleted", user, (comment_id,), post_id=post_id, comment_id=comment_id)
    for story_id in sorted(facts.views):
        emit("story_view_removed", user, (story_id,), story_id=story_id)
    return out


# --- the sweep -------------------------------------------------------------------


@dataclass(frozen=True)
class Erasure:
    """One account being erased, as the sweep keeps it (Cassandra ``erasures``)."""

    user_id: str
    event_id: str
    username: str
    deleted_ms: int
    recheck_ms: int  # every access token issued before the deletion has expired
    due_ms: int  # the grace period is over
    rechecked: bool = False
    passes: int = 0  # cascades the sweep ran since the grace period ended
    acted_ms: int | None = None  # when the sweep last emitted or cleaned
    cleaned_ms: int | None = None  # when the last traces were first removed
    holdings: Holdings = field(default_factory=Holdings)


def new_erasure(
    user_id: str,
    event_id: str,
    *,
    username: str,
    deleted_ms: int,
    grace_s: int,
    token_ttl_s: int,
) -> Erasure:
    """The erasure an ``account_deleted`` starts: the same values for every replay."""
    grace_ms = max(0, grace_s) * 1000
    return Erasure(
        user_id=user_id,
        event_id=event_id,
        username=username,
        deleted_ms=deleted_ms,
        recheck_ms=deleted_ms + min(max(0, token_ttl_s) * 1000, grace_ms),
        due_ms=deleted_ms + grace_ms,
    )


class Step(StrEnum):
    WAIT = "wait"  # nothing to do yet
    RECHECK = "recheck"  # the cascade again, once the old access tokens have expired
    PASS = "pass"  # the cascade again, now that the grace period is over
    CLEAN = "clean"  # look for what is left: a further pass, or the last traces


# A pass that keeps finding facts (an undo some agent cannot apply) stops being
# repeated after this many; the last traces are removed all the same.
MAX_PASSES = 5


def sweep_step(erasure: Erasure, now_ms: int, *, settle_ms: int) -> Step:
    """What the sweep does with one erasure now. After each pass or clean-up it waits
    ``settle_ms`` for the events it sent to be applied before it looks again."""
    if now_ms < erasure.recheck_ms:
        return Step.WAIT
    if now_ms < erasure.due_ms:
        return Step.WAIT if erasure.rechecked else Step.RECHECK
    if erasure.acted_ms is not None and now_ms < erasure.acted_ms + settle_ms:
        return Step.WAIT
    return Step.PASS if erasure.passes == 0 else Step.CLEAN


def needs_another_pass(erasure: Erasure, facts: Facts) -> bool:
    """Facts left after a pass settled: undo them again (a write that raced the last
    pass), up to ``MAX_PASSES``; then the last traces go regardless."""
    return not facts.empty() and erasure.passes < MAX_PASSES


def finished(erasure: Erasure, traces_found: int) -> bool:
    """Done once a clean-up after the first one finds nothing left at all (an event
    applied after the first clean-up could have written a trace again)."""
    return erasure.cleaned_ms is not None and traces_found == 0


def after_pass(erasure: Erasure, now_ms: int, *, recheck: bool) -> Erasure:
    if recheck:
        return replace(erasure, rechecked=True, acted_ms=now_ms)
    return replace(erasure, passes=erasure.passes + 1, acted_ms=now_ms)


def after_clean(erasure: Erasure, now_ms: int) -> Erasure:
    return replace(erasure, cleaned_ms=erasure.cleaned_ms or now_ms, acted_ms=now_ms)
