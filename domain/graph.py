"""Social-graph decisions without I/O: edges, counts and who may follow whom."""

from __future__ import annotations

from dataclasses import dataclass


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
