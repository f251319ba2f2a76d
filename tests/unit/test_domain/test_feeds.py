from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from domain.clock import DAY_MS
from domain.feeds import (
    BlendedRanker,
    Candidate,
    decode_entry,
    encode_entry,
    is_returning,
    merge_candidates,
    newest,
    rank_within_budget,
)

NOW = 1_800_000_000_000


def c(post_id: str, ms: int, source: str = "push") -> Candidate:
    return Candidate(post_id, ms, source)


def test_merge_dedupes_keeps_first_source_and_orders_newest_first() -> None:
    merged = merge_candidates(
        [c("a", 1), c("b", 3)], [c("b", 3, "pull"), c("c", 2, "pull")], cap=10
    )
    assert [(x.post_id, x.source) for x in merged] == [("b", "push"), ("c", "pull"), ("a", "push")]
    assert len(merge_candidates([c(str(i), i) for i in range(20)], cap=5)) == 5


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 10**6)), max_size=40))
def test_newest_is_deduplicated_sorted_and_capped(entries: list[tuple[str, int]]) -> None:
    out = newest([(p, float(s)) for p, s in entries], 5)
    assert len(out) == len({p for p, _ in out}) <= 5
    assert out == sorted(out, key=lambda kv: (kv[1], kv[0]), reverse=True)


def test_returning_viewer_is_never_seen_or_idle_past_the_cutoff() -> None:
    assert is_returning(None, NOW, 30)
    assert is_returning(NOW - 31 * DAY_MS, NOW, 30)
    assert not is_returning(NOW - 29 * DAY_MS, NOW, 30)


def test_blended_ranker_lifts_engaged_posts_but_recency_breaks_ties() -> None:
    hour = 3600 * 1000
    fresh, older = c("fresh", NOW - hour), c("older", NOW - 2 * hour)
    order, ranked = rank_within_budget(
        BlendedRanker(), [fresh, older], {"older": 500}, now_ms=NOW, budget_ms=50
    )
    assert ranked and [x.post_id for x in order] == ["older", "fresh"]
    order, _ = rank_within_budget(BlendedRanker(), [older, fresh], {}, now_ms=NOW, budget_ms=50)
    assert [x.post_id for x in order] == ["fresh", "older"]


def test_ranking_falls_back_to_recency_when_over_budget_or_failing() -> None:
    ticks = itertools.count(0, 1.0)  # every clock read is one more second

    def failing(*_: object, **__: object) -> list[Candidate]:
        raise RuntimeError("model server down")

    items = [c("old", 1), c("new", 2)]
    order, ranked = rank_within_budget(
        BlendedRanker(), items, {"old": 10**6}, now_ms=NOW, budget_ms=5, clock=lambda: next(ticks)
    )
    assert not ranked and [x.post_id for x in order] == ["new", "old"]
    order, ranked = rank_within_budget(failing, items, {}, now_ms=NOW, budget_ms=5)
    assert not ranked and [x.post_id for x in order] == ["new", "old"]


def test_session_entries_round_trip() -> None:
    entry = c("p:with:colons", 123, "pull")
    assert decode_entry(encode_entry(entry)) == entry
