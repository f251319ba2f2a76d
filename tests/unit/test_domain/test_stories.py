"""Story lifetime and tray order (who may see a story: ``test_visibility``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.stories import (
    MAX_LIVE_STORIES_PER_AUTHOR,
    STORY_TTL_MS,
    LiveStory,
    TrayCandidate,
    add_story,
    expired_stories,
    is_live,
    latest_visible_ms,
    order_tray,
    remove_story,
    view_counts,
)

NOW = 1_800_000_000_000
H = 3_600_000


def test_story_is_live_for_exactly_24_hours() -> None:
    assert is_live(NOW - STORY_TTL_MS + 1, NOW)
    assert not is_live(NOW - STORY_TTL_MS, NOW)
    assert not is_live(NOW - 25 * H, NOW)


def test_add_story_is_idempotent_ordered_and_keeps_expired_for_the_sweeper() -> None:
    old = LiveStory("old", NOW - 25 * H, False)
    s1 = LiveStory("s1", NOW - 2 * H, False)
    s2 = LiveStory("s2", NOW - H, True)
    stories = add_story([old, s2], s1)
    assert stories == [old, s1, s2]
    assert add_story(stories, s1) == stories
    assert remove_story(stories, "old") == [s1, s2]
    assert expired_stories(stories, NOW) == [old]


def test_add_story_is_bounded() -> None:
    stories: list[LiveStory] = []
    for i in range(MAX_LIVE_STORIES_PER_AUTHOR + 5):
        stories = add_story(stories, LiveStory(f"s{i}", NOW - H + i, False))
    assert len(stories) == MAX_LIVE_STORIES_PER_AUTHOR
    assert stories[0].story_id == "s5"


def test_row_round_trip() -> None:
    story = LiveStory("s", NOW, True)
    assert LiveStory.from_row(story.to_row()) == story


def test_expired_stories_are_the_ones_past_24_hours() -> None:
    stories = [LiveStory("a", NOW - 24 * H, False), LiveStory("b", NOW - 23 * H, False)]
    assert [s.story_id for s in expired_stories(stories, NOW)] == ["a"]


def test_latest_visible_depends_on_close_friendship() -> None:
    stories = [LiveStory("pub", NOW - 2 * H, False), LiveStory("cf", NOW - H, True)]
    assert latest_visible_ms(stories, close_friend=True, now_ms=NOW) == NOW - H
    assert latest_visible_ms(stories, close_friend=False, now_ms=NOW) == NOW - 2 * H
    only_cf = [LiveStory("cf", NOW - H, True)]
    assert latest_visible_ms(only_cf, close_friend=False, now_ms=NOW) is None
    assert latest_visible_ms(only_cf, close_friend=True, now_ms=NOW + STORY_TTL_MS) is None


def test_tray_orders_close_friends_then_unseen_then_recency() -> None:
    entries = [
        TrayCandidate("seen_new", NOW - 1, NOW - 1, False),
        TrayCandidate("unseen_old", NOW - 5 * H, None, False),
        TrayCandidate("unseen_new", NOW - H, NOW - 2 * H, False),
        TrayCandidate("cf_seen", NOW - 6 * H, NOW - 6 * H, True),
        TrayCandidate("cf_unseen", NOW - 7 * H, None, True),
        TrayCandidate("expired", NOW - 25 * H, None, True),
    ]
    assert [e.author_id for e in order_tray(entries, NOW)] == [
        "cf_unseen",
        "cf_seen",
        "unseen_new",
        "unseen_old",
        "seen_new",
    ]


@given(
    st.lists(
        st.tuples(
            st.integers(NOW - 30 * H, NOW),
            st.one_of(st.none(), st.integers(NOW - 30 * H, NOW)),
            st.booleans(),
        ),
        max_size=30,
    )
)
def test_tray_never_serves_expired_and_groups_stay_contiguous(
    rows: list[tuple[int, int | None, bool]],
) -> None:
    entries = [TrayCandidate(f"a{i}", *row) for i, row in enumerate(rows)]
    tray = order_tray(entries, NOW)
    assert all(is_live(e.latest_ms, NOW) for e in tray)
    groups = [(not e.close_friend, not e.has_unseen) for e in tray]
    assert groups == sorted(groups)


def test_after_a_removal_each_follower_gets_the_newest_story_left_for_them() -> None:
    from domain.fanout import Audience
    from domain.stories import LiveStory, tray_scores

    now = 1_780_000_000_000
    left = [LiveStory("s1", now - 5000, False), LiveStory("s2", now - 1000, True)]
    audience = Audience(
        author_id="a",
        followers=("fan", "friend", "blocked"),
        hidden=frozenset({"blocked"}),
        close_friends=frozenset({"friend"}),
    )
    assert tray_scores(left, audience, now_ms=now) == {"fan": now - 5000, "friend": now - 1000}
    assert tray_scores([], audience, now_ms=now) == {"fan": None, "friend": None}


def test_view_counts_count_first_views_not_withdrawn_ones() -> None:
    first = [
        (("s1", "v1"), NOW),
        (("s1", "v2"), NOW + 1),
        (("s1", "v3"), None),
        (("s2", "v1"), NOW),
    ]
    assert view_counts(first) == {"s1": 2, "s2": 1}
    assert view_counts([(("s3", "v1"), None)]) == {}
