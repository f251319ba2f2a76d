"""Who receives a post or a story, decided without I/O."""

from __future__ import annotations

from domain.clock import DAY_MS
from domain.fanout import (
    Audience,
    backfills_on_follow,
    demoted,
    demotion_recipients,
    is_celebrity,
    post_recipients,
    story_recipients,
)

NOW = 1_780_000_000_000
ACTIVE, IDLE = NOW - DAY_MS, NOW - 40 * DAY_MS


def _audience(**overrides: object) -> Audience:
    fields: dict[str, object] = {
        "author_id": "a",
        "followers": ("active", "idle", "never", "blocked", "muter", "friend", "a"),
        "last_seen_ms": {
            "active": ACTIVE,
            "idle": IDLE,
            "blocked": ACTIVE,
            "muter": ACTIVE,
            "friend": ACTIVE,
            "a": ACTIVE,
        },
        "hidden": frozenset({"blocked"}),
        "muted_by": frozenset({"muter"}),
        "close_friends": frozenset({"friend", "idle"}),
        **overrides,
    }
    return Audience(**fields)  # type: ignore[arg-type]


def test_a_post_goes_to_active_followers_not_hidden_muted_idle_or_the_author() -> None:
    fan = post_recipients(_audience(), now_ms=NOW, celebrity_threshold=100, inactive_after_days=30)
    assert not fan.pulled
    assert fan.recipients == ("active", "friend")


def test_a_celebritys_post_is_pulled_by_readers_and_pushed_to_nobody() -> None:
    fan = post_recipients(_audience(), now_ms=NOW, celebrity_threshold=7, inactive_after_days=30)
    assert fan.pulled and fan.recipients == ()
    assert is_celebrity(7, 7) and not is_celebrity(6, 7)  # the threshold is inclusive


def test_a_story_reaches_idle_followers_too_and_close_friends_only_when_marked() -> None:
    audience = _audience()
    assert story_recipients(audience, close_friends_only=False) == (
        "active",
        "idle",
        "never",
        "friend",
    )
    assert story_recipients(audience, close_friends_only=True) == ("idle", "friend")


def test_a_demotion_pushes_to_the_active_followers_only() -> None:
    assert demotion_recipients(_audience(), now_ms=NOW, inactive_after_days=30) == (
        "active",
        "friend",
    )
    assert demoted(6, 5, threshold=6)
    assert not demoted(7, 6, threshold=6)  # still a celebrity
    assert not demoted(5, 4, threshold=6)  # never was one
    assert not demoted(5, 6, threshold=6)  # promoted


def test_a_follow_copies_posts_for_an_active_follower_of_a_non_celebrity() -> None:
    def backfills(followers: int, seen: float | None) -> bool:
        return backfills_on_follow(
            followee_followers=followers,
            follower_last_seen_ms=seen,
            now_ms=NOW,
            celebrity_threshold=10,
            inactive_after_days=30,
        )

    assert backfills(3, ACTIVE)
    assert not backfills(10, ACTIVE)  # a celebrity: pulled at read time
    assert not backfills(3, IDLE) and not backfills(3, None)  # rebuilt on return
