"""Marks and counts: last writer wins, so duplicates, replays and reorders change nothing."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from domain.engagement import (
    COMMENTS,
    DELETED,
    LIKES,
    LIVE,
    SHARES,
    Mark,
    action_of,
    adjust_likes,
    apply,
    counts_from_marks,
    lifecycle_after,
    merge_pending_like,
    new_comment_id,
)
from tests.factories import event_factory


def test_a_second_like_or_an_unlike_of_a_post_not_liked_changes_no_count() -> None:
    first = apply(None, present=True, ms=1, event_id="a")
    assert first is not None and first.delta == 1
    again = apply(first.mark, present=True, ms=2, event_id="b")
    assert again is not None and again.delta == 0
    never_liked = apply(None, present=False, ms=3, event_id="c")
    assert never_liked is not None and never_liked.delta == 0


def test_a_duplicate_or_older_event_is_ignored() -> None:
    liked = apply(None, present=True, ms=10, event_id="a")
    assert liked is not None
    assert apply(liked.mark, present=True, ms=10, event_id="a") is None  # the same event
    assert apply(liked.mark, present=False, ms=5, event_id="z") is None  # older


def test_since_moves_only_when_the_mark_becomes_present() -> None:
    saved = apply(None, present=True, ms=10, event_id="a")
    assert saved is not None and saved.mark.since_ms == 10
    resaved = apply(saved.mark, present=True, ms=20, event_id="b")
    assert resaved is not None and resaved.mark.since_ms == 10
    unsaved = apply(resaved.mark, present=False, ms=30, event_id="c")
    assert unsaved is not None and unsaved.mark.since_ms == 10 and unsaved.delta == -1
    saved_again = apply(unsaved.mark, present=True, ms=40, event_id="d")
    assert saved_again is not None and saved_again.mark.since_ms == 40


def test_mark_round_trips_through_the_table_json() -> None:
    for mark in (Mark(True, 12, ("e1",), 3), Mark(False, 12, ("e1", "e2"), 3)):
        assert Mark.from_json(mark.to_json()) == mark


def test_events_of_one_millisecond_resolve_in_log_order() -> None:
    # "z" sorts after "a": comparing ids as strings would keep the post liked.
    liked = apply(None, present=True, ms=10, event_id="z")
    assert liked is not None
    unliked = apply(liked.mark, present=False, ms=10, event_id="a")
    assert unliked is not None and unliked.delta == -1 and not unliked.mark.present
    # A replay of either (after a crash) or a duplicate changes nothing.
    assert apply(unliked.mark, present=True, ms=10, event_id="z") is None
    assert apply(unliked.mark, present=False, ms=10, event_id="a") is None


def test_the_version_grows_with_every_change_in_log_order() -> None:
    first = apply(None, present=True, ms=10, event_id="b")
    assert first is not None
    tied = apply(first.mark, present=False, ms=10, event_id="a")
    assert tied is not None
    later = apply(tied.mark, present=True, ms=11, event_id="c")
    assert later is not None
    assert first.mark.version < tied.mark.version < later.mark.version
    assert first.mark.version == 10_000


# Distinct events: one event id never names two different events.
events = st.lists(
    st.tuples(st.booleans(), st.integers(0, 50), st.sampled_from("abcdefghij")),
    min_size=1,
    max_size=10,
    unique_by=lambda e: e[2],
)


@given(events, st.randoms(use_true_random=False))
def test_any_order_and_any_duplicates_end_in_the_newest_events_state(
    sequence: list[tuple[bool, int, str]], rng: random.Random
) -> None:
    delivered = sequence + [rng.choice(sequence) for _ in range(len(sequence) // 2)]
    rng.shuffle(delivered)
    mark: Mark | None = None
    count = 0
    for present, ms, event_id in delivered:
        change = apply(mark, present=present, ms=ms, event_id=event_id)
        if change is not None:
            mark, count = change.mark, count + change.delta
    # Independently: the newest ms wins; within it, the last event in log order (the
    # first delivery of each event id is its place in the log).
    first_seen = {e[2]: i for i, e in reversed(list(enumerate(delivered)))}
    newest = max(sequence, key=lambda e: (e[1], first_seen[e[2]]))
    assert mark is not None
    assert mark.present == newest[0]
    assert count == int(newest[0])


def test_actions_name_the_mark_each_event_sets() -> None:
    like = event_factory("like", post_id="p", user_id="u")
    assert action_of(like) == ("p", LIKES, "u", True)
    assert action_of(event_factory("unlike", post_id="p", user_id="u")) == ("p", LIKES, "u", False)
    share = event_factory("share", post_id="p")
    assert action_of(share) == ("p", SHARES, share.event_id, True)
    deleted = event_factory("comment_deleted", post_id="p", comment_id="c9")
    assert action_of(deleted) == ("p", COMMENTS, "c9", False)
    assert action_of(event_factory("follow")) is None


def test_counts_are_the_present_marks_per_post_and_kind() -> None:
    marks = {
        ("p1", "l", "u1"): Mark(True, 1, ("a",), 1),
        ("p1", "l", "u2"): Mark(False, 2, ("b",), 1),
        ("p1", "c", "c1"): Mark(True, 3, ("c",), 3),
        ("p2", "h", "e1"): Mark(True, 4, ("d",), 4),
    }
    assert counts_from_marks(marks) == {"p1": [1, 1, 0, 0], "p2": [0, 0, 0, 1]}


def test_deletion_is_final_for_the_counters() -> None:
    assert lifecycle_after(None, deleted=False) == LIVE
    assert lifecycle_after(LIVE, deleted=False) is None
    assert lifecycle_after(LIVE, deleted=True) == DELETED
    assert lifecycle_after(DELETED, deleted=False) is None
    assert lifecycle_after(None, deleted=True) == DELETED


def test_only_the_author_deletes_a_post_for_the_counters() -> None:
    # A live post's owner is its creator: someone else's deletion changes nothing.
    assert lifecycle_after(LIVE, deleted=True, owner="a", actor="x") is None
    assert lifecycle_after(LIVE, deleted=True, owner="a", actor="a") == DELETED
    # A deletion seen first is owned by its sender: the author's creation still counts,
    # a creation by the same sender stays deleted.
    assert lifecycle_after(DELETED, deleted=False, owner="x", actor="a") == LIVE
    assert lifecycle_after(DELETED, deleted=False, owner="a", actor="a") is None


def test_a_pending_like_answers_for_the_viewer_until_the_stream_catches_up() -> None:
    assert merge_pending_like(False, "1") is True
    assert merge_pending_like(True, "0") is False
    assert merge_pending_like(True, None) is True
    assert adjust_likes(5, False, "1") == 6
    assert adjust_likes(5, True, "1") == 5
    assert adjust_likes(5, True, "0") == 4
    assert adjust_likes(0, True, "0") == 0


def test_comment_ids_sort_by_time() -> None:
    early, late = new_comment_id(1_000), new_comment_id(2_000)
    assert early < late


def test_a_flush_writes_live_posts_clears_deleted_ones_and_holds_unknown_likers() -> None:
    from domain.engagement import plan_flush

    states = {"live": LIVE, "gone": DELETED}
    plan = plan_flush(
        ["live", "gone", "unknown"],
        {"live": {"u1": True}, "unknown": {"u2": True}, "gone": {"u3": False}},
        lifecycle=states.get,
        counts={"live": [2, 0, 1, 0]}.get,
    )
    assert plan.live == {"live": [2, 0, 1, 0]}
    assert plan.deleted == ["gone"]
    assert plan.likers == {"live": {"u1": True}}
    assert plan.held_likers == {"unknown": {"u2": True}}
