"""Hashtag parsing and the per-(tag, user) use arithmetic behind exact window counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.trending import (
    HORIZON_MS,
    HOUR_MS,
    MAX_USES_PER_USER_TAG,
    add_use,
    copy_fields,
    count_in_window,
    count_use,
    newest_use,
    normalize_tag,
    parse_hashtags,
    prune_uses,
    rank_tags,
    remove_use,
    route_created,
    route_deleted,
    window_ms,
)

NOW = 1_800_000_000_000


def test_parse_hashtags_case_folds_and_dedupes() -> None:
    assert parse_hashtags("#Sunset and #SUNSET at the #beach!") == ("sunset", "beach")


def test_parse_hashtags_is_unicode_aware() -> None:
    assert parse_hashtags("#東京 #Café #Straße #summer_vibes #2024") == (
        "東京",
        "café",
        "strasse",
        "summer_vibes",
        "2024",
    )


def test_parse_hashtags_joins_decomposed_accents() -> None:
    decomposed = "#Cafe\u0301 time"
    assert parse_hashtags(decomposed) == ("café",)
    assert normalize_tag("CAFE\u0301") == normalize_tag("café")


def test_parse_hashtags_ignores_non_tags() -> None:
    assert parse_hashtags("email a#b, lone # sign, &#39; entity, #-dash, #") == ()


def test_parse_hashtags_stops_at_punctuation() -> None:
    assert parse_hashtags("(#one),#two.#three") == ("one", "two", "three")


@given(st.text(max_size=200))
def test_parse_hashtags_returns_distinct_folded_word_tags(caption: str) -> None:
    tags = parse_hashtags(caption)
    assert len(tags) == len(set(tags))
    for tag in tags:
        assert tag and normalize_tag(tag) == tag
        assert all(ch.isalnum() or ch == "_" for ch in tag)


def test_add_use_is_idempotent_per_post() -> None:
    once = add_use({}, "p1", NOW - 10, NOW)
    assert add_use(once, "p1", NOW - 10, NOW) == once == {"p1": NOW - 10}


def test_remove_use_falls_back_to_the_previous_live_use() -> None:
    uses = add_use(add_use({}, "old", NOW - 5 * HOUR_MS, NOW), "new", NOW - 60_000, NOW)
    assert newest_use(uses) == NOW - 60_000
    after = remove_use(uses, "new", NOW)
    assert newest_use(after) == NOW - 5 * HOUR_MS
    assert newest_use(remove_use(after, "old", NOW)) is None


def test_uses_older_than_the_horizon_are_pruned() -> None:
    uses = add_use({"ancient": NOW - HORIZON_MS - 1}, "p", NOW - 1, NOW)
    assert uses == {"p": NOW - 1}


def test_uses_are_bounded_keeping_the_newest() -> None:
    uses: dict[str, int] = {}
    for i in range(MAX_USES_PER_USER_TAG + 50):
        uses = add_use(uses, f"p{i}", NOW - 1_000_000 + i, NOW)
    assert len(uses) == MAX_USES_PER_USER_TAG
    assert newest_use(uses) == NOW - 1_000_000 + MAX_USES_PER_USER_TAG + 49


def test_count_in_window_counts_each_user_once() -> None:
    newest = {"spammer": NOW - 1000, "a": NOW - 2 * HOUR_MS, "b": NOW - 3 * 24 * HOUR_MS}
    assert count_in_window(newest, "1h", NOW) == 1
    assert count_in_window(newest, "24h", NOW) == 2
    assert count_in_window(newest, "7d", NOW) == 3


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=3), st.integers(NOW - 2 * HORIZON_MS, NOW), max_size=30
    )
)
def test_windows_nest(newest: dict[str, int]) -> None:
    counts = [count_in_window(newest, w, NOW) for w in ("1h", "24h", "7d")]
    assert counts == sorted(counts)
    assert window_ms("1h") < window_ms("24h") < window_ms("7d")


def test_rank_tags_orders_by_count_then_tag() -> None:
    assert rank_tags({"b": 2, "a": 2, "c": 5, "z": 0}, 10) == [("c", 5), ("a", 2), ("b", 2)]
    assert rank_tags({"b": 2, "a": 2, "c": 5}, 1) == [("c", 5)]


# --- the re-key and the counter's decisions ---------------------------------------------


def test_route_created_copies_each_tag_with_its_author_and_time() -> None:
    routed = route_created(None, author_id="a1", caption="#Sun and #sea", created_ms=NOW)
    assert routed is not None
    assert routed.tags == ("sun", "sea")
    assert (routed.author_id, routed.created_ms) == ("a1", NOW)
    assert routed.record == {"tags": ["sun", "sea"], "author_id": "a1", "created_ms": NOW}


def test_route_created_without_tags_or_after_its_deletion_sends_nothing() -> None:
    assert route_created(None, author_id="a1", caption="no tags", created_ms=NOW) is None
    gone = {"author_id": "a1", "deleted": True}
    assert route_created(gone, author_id="a1", caption="#late", created_ms=NOW) is None


def test_route_created_replayed_routes_again() -> None:
    first = route_created(None, author_id="a1", caption="#sun", created_ms=NOW)
    assert first is not None
    again = route_created(first.record, author_id="a1", caption="#sun", created_ms=NOW)
    assert again == first


def test_route_deleted_removes_from_every_known_tag_and_marks_the_post() -> None:
    known = {"tags": ["a", "b"], "author_id": "a1", "created_ms": NOW - 5}
    routed = route_deleted(known, author_id="a1")
    assert routed is not None
    assert routed.tags == ("a", "b") and routed.created_ms == NOW - 5
    assert routed.record == {**known, "deleted": True}


def test_route_deleted_unknown_post_marked_without_copies() -> None:
    routed = route_deleted(None, author_id="a1")
    assert routed is not None
    assert routed.tags == () and routed.record == {"author_id": "a1", "deleted": True}


def test_route_deleted_by_another_user_ignored() -> None:
    known = {"tags": ["a"], "author_id": "a1", "created_ms": NOW}
    assert route_deleted(known, author_id="intruder") is None


def test_copy_fields_read_and_refused_when_malformed() -> None:
    assert copy_fields({"tag": "sun", "author_id": "a1", "created_ms": "12"}) == ("sun", "a1", 12)
    for extra in (
        {},
        {"tag": "sun", "author_id": "a1"},
        {"tag": "", "author_id": "a1", "created_ms": 1},
    ):
        with pytest.raises(ValueError, match="not a hashtag copy"):
            copy_fields(extra)


def test_count_use_is_idempotent_and_removal_wins_over_replayed_creation() -> None:
    uses = count_use({}, post_id="p1", created_ms=NOW, deleted=False, now_ms=NOW)
    assert count_use(uses, post_id="p1", created_ms=NOW, deleted=False, now_ms=NOW) == uses
    gone = count_use(uses, post_id="p1", created_ms=NOW, deleted=True, now_ms=NOW)
    assert gone == {} and newest_use(gone) is None
    old = NOW - HORIZON_MS - 1
    assert count_use({}, post_id="p2", created_ms=old, deleted=False, now_ms=NOW) == {}


@given(
    st.dictionaries(
        st.sampled_from([f"p{i}" for i in range(260)]),
        st.integers(NOW - 2 * HORIZON_MS, NOW),
        max_size=240,
    ),
    st.sampled_from([f"p{i}" for i in range(260)]),
    st.integers(NOW - 2 * HORIZON_MS, NOW),
)
def test_add_and_remove_use_equal_a_full_prune(
    uses: dict[str, int], post_id: str, created_ms: int
) -> None:
    assert add_use(uses, post_id, created_ms, NOW) == prune_uses({**uses, post_id: created_ms}, NOW)
    left = {p: ms for p, ms in uses.items() if p != post_id}
    assert remove_use(uses, post_id, NOW) == prune_uses(left, NOW)
