"""Social-graph decisions without I/O: edges, counts, follow requests and mutes.

A follow of a public account takes effect at once; a follow of a private account is a
pending request until its owner approves it (or the account goes public, which
approves every pending request). Nobody follows themselves or anyone they are blocked
with, either way. Only the approval's own follow (``cause == "approved"``) passes a
private account's door, so no producer bypasses privacy with a plain ``follow``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The ``cause`` of the follow an approval re-issues (kept as an extra field of the event).
APPROVED = "approved"


def edge_key(owner_id: str, other_id: str) -> str:
    """Table key of one directed edge stored in ``owner_id``'s partition."""
    return f"{owner_id}|{other_id}"


@dataclass(frozen=True)
class EdgeChange:
    present: bool  # the edge after the event
    count_delta: int  # change of the partition owner's count


def follow_change(present_before: bool, *, follow: bool, allowed: bool = True) -> EdgeChange:
    """A follow (or unfollow); replays and refused follows change no count."""
    after = follow and allowed if not present_before else follow
    if after == present_before:
        return EdgeChange(present_before, 0)
    return EdgeChange(after, 1 if after else -1)


def may_follow(follower_id: str, followee_id: str, hidden_from_follower: set[str]) -> bool:
    """Nobody follows themselves, and a block either way forbids a follow."""
    return follower_id != followee_id and followee_id not in hidden_from_follower


@dataclass(frozen=True)
class FollowFacts:
    """What the graph knows about one (follower, followee) pair when a follow arrives."""

    hidden: bool = False  # the two are blocked, either way
    private: bool = False  # the followee's account is private
    requested: bool = False  # the follower's request to the followee is pending


class FollowEffect(StrEnum):
    FOLLOW = "follow"  # the edge is (or stays) present
    REQUEST = "request"  # a pending request is recorded instead
    REFUSE = "refuse"  # nothing changes


@dataclass(frozen=True)
class FollowDecision:
    effect: FollowEffect
    clears_request: bool = False  # a pending request turns into the follow: remove it


def follow_decision(
    follower_id: str,
    followee_id: str,
    facts: FollowFacts,
    *,
    following: bool,
    approved: bool = False,
) -> FollowDecision:
    """What a ``follow`` or a ``follow_requested`` does.

    Refused for oneself or a blocked pair. An existing follower stays one (a replay),
    an approved follow and a follow of a public account take effect, and anything else
    aimed at a private account waits as a request. Once the follow stands, the
    follower's pending request (if any) is gone: a request and a follow never coexist.
    """
    if not may_follow(follower_id, followee_id, {followee_id} if facts.hidden else set()):
        return FollowDecision(FollowEffect.REFUSE)
    if following or approved or not facts.private:
        return FollowDecision(FollowEffect.FOLLOW, clears_request=facts.requested)
    return FollowDecision(FollowEffect.REQUEST)


def approval_follows(facts: FollowFacts) -> bool:
    """An approval re-issues the follow only while the request is pending (so replays,
    and approvals of cancelled, denied or blocked requests, change nothing)."""
    return facts.requested and not facts.hidden


def approved_follow_id(approval_event_id: str) -> str:
    """Event id of the follow an approval re-issues: the same for every replay."""
    return f"{approval_event_id}-follow"


def approves_pending(*, private: bool, newest: bool) -> bool:
    """A profile change approves every pending request once the account is public, and
    only when it is the newest change (a late, older one rolls nothing back); going
    private keeps the followers the account has and approves nobody."""
    return newest and not private


def approval_id(profile_event_id: str, requester_id: str) -> str:
    """Event id of the approval a profile going public issues for one requester."""
    return f"{profile_event_id}-approve-{requester_id}"


def may_mute(user_id: str, target_id: str) -> bool:
    """Anyone may mute anyone but themselves; a mute leaves the follow in place."""
    return user_id != target_id
