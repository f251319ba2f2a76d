"""domain.search: terms, query folding, one-typo matching, ranking, cursors, index entries."""

from __future__ import annotations

import unicodedata

import pytest

from domain import search
from domain.cursors import InvalidCursor
from domain.search import (
    EVERYONE,
    FOLLOWER,
    FOLLOWING,
    GONE_POST,
    HASHTAG,
    LIVE_POST,
    USER,
    Candidate,
    NameEntry,
)


def test_user_terms_are_the_username_and_each_display_name_suffix() -> None:
    assert search.user_terms("marie.c", "Marie Curie") == ("curie", "marie curie", "marie.c")


def test_user_terms_drop_terms_another_term_starts_with() -> None:
    # "ada" is a prefix of the username "ada_l": searching it finds the username anyway.
    assert search.user_terms("ada_l", "Ada") == ("ada_l",)
    assert search.user_terms("x", "") == ("x",)


def test_user_terms_fold_unicode_like_hashtags() -> None:
    decomposed = unicodedata.normalize("NFD", "José Ñúñez")
    assert search.user_terms("jose", decomposed) == ("jose", "josé ñúñez", "ñúñez")
    assert search.user_terms("k", "STRASSE Straße") == ("k", "strasse strasse")


def test_normalize_query_folds_and_keeps_username_dots() -> None:
    assert search.normalize_query("  @Marie.C ") == "marie.c"
    assert search.normalize_query("#Café") == unicodedata.normalize("NFC", "café")
    assert search.normalize_query("anne-marie   cu") == "anne marie cu"
    assert search.normalize_query("!!!") == ""


@pytest.mark.parametrize(
    ("query", "term", "expected"),
    [
        ("alice", "alice_w", True),
        ("alcie", "alice_w", False),  # swapped
        ("alie", "alice_w", False),  # dropped
        ("allice", "alice_w", False),  # inserted
        ("alxce", "alice_w", False),  # replaced
        ("alxxe", "alice_w", None),  # two edits
        ("ali", "alice_w", True),
        ("alx", "alice_w", None),  # no typo under four characters
        ("bob", "alice_w", None),
    ],
)
def test_matches_by_prefix_or_one_typo_from_four_characters(
    query: str, term: str, expected: bool | None
) -> None:
    assert search.matches(query, term) is expected


def test_typo_prefixes_cover_each_kind_of_edit() -> None:
    prefixes = set(search.typo_prefixes("alcie"))
    assert "alice" in prefixes  # the swap undone
    assert "alcie" not in prefixes
    assert "alie" in prefixes  # a character the query has too many
    assert "alci" in prefixes  # a replaced last character is the range without it
    assert "albie" in prefixes and "alxcie" in prefixes
    assert search.typo_prefixes("abc") == []


def test_typo_prefixes_hold_every_one_typo_match() -> None:
    terms = ["alice_w", "alicia", "malice", "alien"]
    query = "alcie"
    for term in terms:
        in_range = any(term.startswith(p) for p in search.typo_prefixes(query))
        if search.matches(query, term) is False:
            assert in_range, term


def test_short_prefixes_are_one_and_two_characters() -> None:
    assert search.short_prefixes(["ab", "c"]) == {"a", "ab", "c"}
    assert search.has_top_list("ab") and not search.has_top_list("abc")


def _user(key: str, popularity: int, tier: int = EVERYONE, **kw: object) -> Candidate:
    return Candidate(USER, key, key, True, popularity, tier, **kw)  # type: ignore[arg-type]


def test_rank_puts_the_viewers_graph_first_then_exact_then_popular() -> None:
    stranger_star = _user("star", 10_000)
    follower = _user("fan", 3, FOLLOWER)
    followed = _user("friend", 1, FOLLOWING)
    mutual = _user("mutual", 0, FOLLOWING, mutual=True)
    typo = Candidate(USER, "typo", "typo", False, 50_000)
    tag = Candidate(HASHTAG, "tag", "tag", True, 20_000)
    ranked = search.rank([typo, stranger_star, tag, follower, followed, mutual])
    assert [c.key for c in ranked] == ["mutual", "friend", "fan", "tag", "star", "typo"]


def test_rank_keeps_each_result_once_at_its_best() -> None:
    typo = Candidate(USER, "u1", "alicia", False, 5)
    exact = Candidate(USER, "u1", "alice", True, 5)
    assert search.rank([typo, exact]) == [exact]
    assert len(search.rank([_user(f"u{i}", i) for i in range(500)])) == search.MAX_CANDIDATES


def test_tier_of() -> None:
    assert search.tier_of(follows=True, followed_by=True) == FOLLOWING
    assert search.tier_of(follows=False, followed_by=True) == FOLLOWER
    assert search.tier_of(follows=False, followed_by=False) == EVERYONE


def test_pages_are_slices_with_the_next_offset() -> None:
    ranked = [_user(f"u{i}", 0) for i in range(5)]
    assert search.page_of(ranked, 0, 2) == (ranked[:2], 2)
    assert search.page_of(ranked, 4, 2) == (ranked[4:], None)


def test_a_cursor_works_only_for_its_own_query() -> None:
    cursor = search.encode_search_cursor("ali", "all", 10)
    assert search.decode_search_cursor(cursor, "ali", "all") == 10
    with pytest.raises(InvalidCursor):
        search.decode_search_cursor(cursor, "bob", "all")
    with pytest.raises(InvalidCursor):
        search.decode_search_cursor(cursor, "ali", "users")
    with pytest.raises(InvalidCursor):
        search.decode_search_cursor("not a cursor", "ali", "all")


def test_name_after_keeps_the_newest_and_a_deletion_for_good() -> None:
    first = NameEntry(100, "ada", "Ada")
    assert search.name_after(None, first) == first
    assert search.name_after(first, first) is None  # a duplicate
    assert search.name_after(first, NameEntry(99, "old", "")) is None  # history
    renamed = NameEntry(100, "ada2", "Ada")  # same millisecond, later in the log
    assert search.name_after(first, renamed) == renamed
    gone = NameEntry(50, deleted=True)  # a deletion wins whatever its clock
    assert search.name_after(renamed, gone) == gone
    assert search.name_after(gone, NameEntry(200, "back", "")) is None
    assert gone.terms == ()
    assert NameEntry.from_json(renamed.to_json()) == renamed


def test_tag_marks_count_each_live_post_once() -> None:
    assert search.tag_mark_after(None, created=True) == LIVE_POST
    assert search.tag_mark_after(LIVE_POST, created=True) is None  # a replay
    assert search.tag_mark_after(LIVE_POST, created=False) == GONE_POST
    assert search.tag_mark_after(GONE_POST, created=False) is None
    assert search.tag_mark_after(None, created=False) == GONE_POST  # deleted first
    assert search.tag_mark_after(GONE_POST, created=True) is None  # never counts again
    assert search.count_delta(None, LIVE_POST) == 1
    assert search.count_delta(LIVE_POST, GONE_POST) == -1
    assert search.count_delta(None, GONE_POST) == 0
