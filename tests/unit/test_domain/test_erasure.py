"""Account erasure decisions: the compensating events of a deleted account's facts, their
deterministic ids, and the sweep's steps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from domain.erasure import (
    CAUSE,
    MAX_PASSES,
    Erasure,
    Facts,
    Holdings,
    Step,
    after_clean,
    after_pass,
    compensation_id,
    compensations,
    finished,
    needs_another_pass,
    new_erasure,
    pass_base,
    sweep_step,
)
from schemas.events import make_event
from schemas.topics import topic_for

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SETTLE = 1_000


def undo(facts: Facts, base: str = "e1") -> list[tuple[str, str, str]]:
    """(type, acting user, what it names) of each compensation, in order."""
    out = []
    for fields in compensations(facts, base_id=base, occurred_at=AT):
        named = fields.get("target_id") or fields.get("share_id") or fields.get("comment_id")
        named = named or fields.get("post_id") or fields.get("story_id")
        out.append((fields["type"], fields["user_id"], named))
    return out


def test_facts_empty_only_without_any_fact() -> None:
    assert Facts("d").empty()
    assert not Facts("d", views=frozenset({"s1"})).empty()


def test_compensations_follows_both_ways_come_first() -> None:
    facts = Facts(
        "d",
        following=frozenset({"y"}),
        followers=frozenset({"x"}),
        muted=frozenset({"y"}),
        close_friends=frozenset({"y"}),
    )
    assert undo(facts) == [
        ("unfollow", "d", "y"),
        ("unfollow", "x", "d"),  # the follower's follow of the deleted account
        ("close_friend_removed", "d", "y"),
        ("unmute", "d", "y"),
    ]


def test_compensations_graph_ties_of_others_undone_by_their_owner() -> None:
    facts = Facts(
        "d",
        close_friend_of=frozenset({"o"}),
        muted_by=frozenset({"m"}),
        requests_sent=frozenset({"p"}),
        requests_received=frozenset({"r"}),
    )
    assert undo(facts) == [
        ("close_friend_removed", "o", "d"),
        ("follow_request_cancelled", "d", "p"),  # the deleted account withdraws its request
        ("follow_request_denied", "d", "r"),  # and turns down the ones it received
        ("unmute", "m", "d"),
    ]


def test_compensations_block_undone_both_ways() -> None:
    assert undo(Facts("d", blocked=frozenset({"b"}))) == [
        ("unblock", "d", "b"),
        ("unblock", "b", "d"),
    ]


def test_compensations_content_and_engagement() -> None:
    facts = Facts(
        "d",
        posts=frozenset({"p1"}),
        stories=frozenset({"s1"}),
        likes=frozenset({"p9"}),
        saves=frozenset({"p8"}),
        shares=frozenset({("h1", "p7")}),
        comments=frozenset({("c1", "p6")}),
        views=frozenset({"s9"}),
    )
    assert undo(facts) == [
        ("post_deleted", "d", "p1"),
        ("story_deleted", "d", "s1"),
        ("unlike", "d", "p9"),
        ("unsave", "d", "p8"),
        ("share_removed", "d", "h1"),
        ("comment_deleted", "d", "c1"),
        ("story_view_removed", "d", "s9"),
    ]


def test_compensations_are_valid_events_on_the_topics_owning_the_facts() -> None:
    facts = Facts(
        "d",
        followers=frozenset({"x"}),
        shares=frozenset({("h1", "p7")}),
        comments=frozenset({("c1", "p6")}),
        views=frozenset({"s9"}),
    )
    routed = []
    for fields in compensations(facts, base_id="e1", occurred_at=AT):
        event = make_event(fields.pop("type"), **fields)
        spec = topic_for(event)
        routed.append((spec.entity, spec.key_for(event)))
        assert event.occurred_at == AT
        assert (event.model_extra or {})["cause"] == CAUSE
    assert routed == [
        ("graph", "d"),  # keyed by the unfollowed account
        ("engagement", "p7"),
        ("engagement", "p6"),
        ("story-views", "s9"),
    ]


def test_compensation_ids_deterministic_per_cascade_and_fact() -> None:
    facts = Facts("d", likes=frozenset({"p1", "p2"}))
    first = [f["event_id"] for f in compensations(facts, base_id="e1", occurred_at=AT)]
    again = [f["event_id"] for f in compensations(facts, base_id="e1", occurred_at=AT)]
    other = [f["event_id"] for f in compensations(facts, base_id="e1/pass-1", occurred_at=AT)]
    assert first == again
    assert len(set(first)) == 2
    assert not set(first) & set(other)
    assert first[0] == compensation_id("e1", "unlike", "p1")


def test_pass_base_names_the_pass() -> None:
    assert pass_base("e1", "") == "e1"
    assert pass_base("e1", "recheck") == "e1/recheck"


def test_holdings_union() -> None:
    a = Holdings(frozenset({"p1"}), frozenset(), frozenset({"m1"}))
    b = Holdings(frozenset({"p2"}), frozenset({"s1"}), frozenset())
    assert a | b == Holdings(frozenset({"p1", "p2"}), frozenset({"s1"}), frozenset({"m1"}))


def erasure(**changes: object) -> Erasure:
    e = new_erasure("d", "e1", username="dora", deleted_ms=0, grace_s=100, token_ttl_s=10)
    return replace(e, **changes)  # type: ignore[arg-type]


def test_new_erasure_rechecks_once_old_tokens_expired_and_ends_with_the_grace() -> None:
    e = erasure()
    assert (e.recheck_ms, e.due_ms) == (10_000, 100_000)
    short = new_erasure("d", "e1", username="", deleted_ms=5, grace_s=3, token_ttl_s=900)
    assert short.recheck_ms == short.due_ms == 3_005  # never after the grace period


def test_sweep_waits_before_the_recheck() -> None:
    assert sweep_step(erasure(), 9_999, settle_ms=SETTLE) is Step.WAIT


def test_sweep_rechecks_once_in_the_grace_period() -> None:
    assert sweep_step(erasure(), 10_000, settle_ms=SETTLE) is Step.RECHECK
    done = after_pass(erasure(), 10_000, recheck=True)
    assert done.rechecked and done.passes == 0
    assert sweep_step(done, 50_000, settle_ms=SETTLE) is Step.WAIT


def test_sweep_after_grace_passes_settles_then_cleans() -> None:
    e = after_pass(erasure(), 10_000, recheck=True)
    assert sweep_step(e, 100_000, settle_ms=SETTLE) is Step.PASS
    e = after_pass(e, 100_000, recheck=False)
    assert e.passes == 1
    assert sweep_step(e, 100_999, settle_ms=SETTLE) is Step.WAIT
    assert sweep_step(e, 101_000, settle_ms=SETTLE) is Step.CLEAN


def test_sweep_never_rechecked_still_passes_after_grace() -> None:
    assert sweep_step(erasure(), 200_000, settle_ms=SETTLE) is Step.PASS


def test_another_pass_while_facts_left_up_to_the_limit() -> None:
    left = Facts("d", likes=frozenset({"p1"}))
    assert needs_another_pass(erasure(passes=1), left)
    assert not needs_another_pass(erasure(passes=1), Facts("d"))
    assert not needs_another_pass(erasure(passes=MAX_PASSES), left)


def test_finished_only_after_a_second_clean_finding_nothing() -> None:
    assert not finished(erasure(), 0)  # the first clean-up: look once more
    cleaned = after_clean(erasure(passes=1), 120_000)
    assert cleaned.cleaned_ms == 120_000 and cleaned.acted_ms == 120_000
    assert not finished(cleaned, 3)  # something came back: remove it, look again
    assert finished(cleaned, 0)
    assert after_clean(cleaned, 130_000).cleaned_ms == 120_000  # the first clean-up's time
