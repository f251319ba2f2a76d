from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.graph import (
    APPROVED,
    FollowDecision,
    FollowEffect,
    FollowFacts,
    approval_follows,
    approval_id,
    approved_follow_id,
    approves_pending,
    edge_key,
    follow_change,
    follow_decision,
    may_follow,
    may_mute,
)


def test_follow_counts_once_and_unfollow_only_an_existing_edge() -> None:
    assert follow_change(False, follow=True).count_delta == 1
    assert follow_change(True, follow=True).count_delta == 0
    assert follow_change(True, follow=False).count_delta == -1
    assert follow_change(False, follow=False).count_delta == 0
    refused = follow_change(False, follow=True, allowed=False)
    assert not refused.present and refused.count_delta == 0


@given(st.lists(st.booleans(), max_size=30))
def test_count_always_matches_the_edge(events: list[bool]) -> None:
    present, count = False, 0
    for follow in events:
        change = follow_change(present, follow=follow)
        present, count = change.present, count + change.count_delta
    assert count == (1 if present else 0)


def test_blocks_and_self_follows_are_refused() -> None:
    assert may_follow("a", "b", set())
    assert not may_follow("a", "a", set())
    assert not may_follow("a", "b", {"b"})
    assert edge_key("x", "y") == "x|y"


# --- follow requests -----------------------------------------------------------------


def _decide(facts: FollowFacts, *, following: bool = False, approved: bool = False) -> Any:
    return follow_decision("fan", "owner", facts, following=following, approved=approved)


def test_follow_decision_public_account_follows_at_once() -> None:
    assert _decide(FollowFacts()) == FollowDecision(FollowEffect.FOLLOW)


def test_follow_decision_private_account_by_stranger_is_a_request() -> None:
    assert _decide(FollowFacts(private=True)) == FollowDecision(FollowEffect.REQUEST)
    # Asked again while pending: still a request (recorded once, with its first time).
    assert _decide(FollowFacts(private=True, requested=True)).effect is FollowEffect.REQUEST


def test_follow_decision_private_account_follower_or_approved_follows() -> None:
    assert _decide(FollowFacts(private=True), following=True).effect is FollowEffect.FOLLOW
    approved = _decide(FollowFacts(private=True, requested=True), approved=True)
    assert approved == FollowDecision(FollowEffect.FOLLOW, clears_request=True)


def test_follow_decision_block_or_self_refused_even_when_approved() -> None:
    hidden = FollowFacts(hidden=True, requested=True)
    assert _decide(hidden, approved=True).effect is FollowEffect.REFUSE
    own = follow_decision("owner", "owner", FollowFacts(), following=False, approved=True)
    assert own.effect is FollowEffect.REFUSE


def test_follow_decision_follow_of_public_account_clears_a_stale_request() -> None:
    assert _decide(FollowFacts(requested=True)).clears_request
    assert not _decide(FollowFacts()).clears_request


@given(st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_follow_decision_never_leaves_a_request_beside_a_follow(
    hidden: bool, private: bool, requested: bool, following: bool, approved: bool
) -> None:
    facts = FollowFacts(hidden=hidden, private=private, requested=requested)
    decision = _decide(facts, following=following, approved=approved)
    if decision.effect is FollowEffect.FOLLOW:
        assert decision.clears_request == requested
    if private and not (following or approved or hidden):
        assert decision.effect is FollowEffect.REQUEST  # privacy is never bypassed


def test_approval_follows_only_a_pending_unblocked_request() -> None:
    assert approval_follows(FollowFacts(requested=True))
    assert not approval_follows(FollowFacts())
    assert not approval_follows(FollowFacts(requested=True, hidden=True))


def test_profile_change_approves_pending_only_when_newest_and_public() -> None:
    assert approves_pending(private=False, newest=True)
    assert not approves_pending(private=True, newest=True)
    assert not approves_pending(private=False, newest=False)


def test_reissued_event_ids_are_stable_per_source_event() -> None:
    assert approved_follow_id("e1") == "e1-follow"
    assert approval_id("e2", "fan") == "e2-approve-fan"
    assert APPROVED == "approved"


def test_nobody_mutes_themselves() -> None:
    assert may_mute("a", "b")
    assert not may_mute("a", "a")
