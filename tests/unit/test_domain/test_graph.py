from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.graph import edge_key, follow_change, may_follow


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
