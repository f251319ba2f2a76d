"""The packed Redis values: written and read back by the same declaration."""

from __future__ import annotations

from domain.engagement import COUNTERS
from schemas.redis_hashes import PostCounts


def test_post_counts_round_trip_in_counter_order() -> None:
    counts = PostCounts.of([3, 1, 4, 15])
    assert PostCounts.from_value(counts.value()) == counts
    assert [getattr(counts, name) for name in COUNTERS] == [3, 1, 4, 15]


def test_post_counts_of_a_post_never_flushed_are_zeros() -> None:
    assert PostCounts.from_value(None) == PostCounts(0, 0, 0, 0)
    assert PostCounts.from_value("") == PostCounts()
