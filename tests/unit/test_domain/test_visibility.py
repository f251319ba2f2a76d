"""The visibility policy as a table: every relation × account × object state."""

from __future__ import annotations

import itertools

import pytest

from domain.visibility import (
    DIRECT,
    DISCOVERY,
    FEED,
    Account,
    FollowOutcome,
    Relation,
    Ties,
    follow_outcome,
    in_tray,
    may_delete_comment,
    may_see_account,
    may_see_comment,
    may_see_content,
    may_see_post,
    may_see_story,
    post_shown,
    relation,
)

V, O = "viewer", "owner"  # noqa: E741

# Each relation's ties, as the facts reader would fetch them.
TIES = {
    Relation.OWNER: Ties(O, O),
    Relation.CLOSE_FRIEND: Ties(V, O, follows=True, close_friend=True),
    Relation.FOLLOWER: Ties(V, O, follows=True),
    Relation.REQUESTER: Ties(V, O, requested=True),
    Relation.STRANGER: Ties(V, O),
    Relation.BLOCKED: Ties(V, O, follows=True, close_friend=True, blocked=True),
    Relation.ANONYMOUS: Ties(None, O),
}
PUBLIC, PRIVATE, DELETED = Account(), Account(private=True), Account(deleted=True)
INSIDE = {Relation.OWNER, Relation.CLOSE_FRIEND, Relation.FOLLOWER}


def test_relation_is_the_strongest_tie_and_a_block_outweighs_a_follow() -> None:
    assert {rel: relation(ties) for rel, ties in TIES.items()} == {r: r for r in TIES}
    # A close-friends list entry without a follow is not a follow.
    assert relation(Ties(V, O, close_friend=True)) is Relation.STRANGER


@pytest.mark.parametrize("rel", list(Relation))
@pytest.mark.parametrize(
    "account", [PUBLIC, PRIVATE, DELETED], ids=["public", "private", "deleted"]
)
def test_account_and_content(rel: Relation, account: Account) -> None:
    sees_card = not account.deleted and rel not in (Relation.BLOCKED, Relation.ANONYMOUS)
    assert may_see_account(rel, account) is sees_card
    assert may_see_content(rel, account) is (sees_card and (not account.private or rel in INSIDE))


@pytest.mark.parametrize(
    ("rel", "account", "state"),
    itertools.product(
        list(Relation), [PUBLIC, PRIVATE, DELETED], ["ready", "processing", "failed", "deleted", ""]
    ),
)
def test_posts(rel: Relation, account: Account, state: str) -> None:
    content = may_see_content(rel, account)
    expected = content and (
        state == "ready" or (rel is Relation.OWNER and state in ("processing", "failed"))
    )
    assert may_see_post(rel, account, state) is expected


@pytest.mark.parametrize(
    ("rel", "account", "live", "close_only"),
    itertools.product(list(Relation), [PUBLIC, PRIVATE, DELETED], [True, False], [True, False]),
)
def test_stories(rel: Relation, account: Account, live: bool, close_only: bool) -> None:
    expected = (
        live
        and may_see_content(rel, account)
        and (not close_only or rel in (Relation.OWNER, Relation.CLOSE_FRIEND))
    )
    assert may_see_story(rel, account, live=live, close_friends_only=close_only) is expected


def test_feed_needs_a_follow_and_no_mute_but_discovery_only_no_mute() -> None:
    follower = Ties(V, O, follows=True)
    muted = Ties(V, O, follows=True, muted=True)
    stranger = Ties(V, O)
    assert post_shown(FEED, follower, PUBLIC, "ready")
    assert not post_shown(FEED, muted, PUBLIC, "ready")
    assert not post_shown(FEED, stranger, PUBLIC, "ready")
    assert post_shown(DISCOVERY, stranger, PUBLIC, "ready")
    assert not post_shown(DISCOVERY, Ties(V, O, muted=True), PUBLIC, "ready")
    assert not post_shown(DISCOVERY, stranger, PRIVATE, "ready")
    # A muted author's post stays reachable directly (by link, on their profile).
    assert post_shown(DIRECT, muted, PUBLIC, "ready")
    # The viewer's own posts are in their feed, processing ones too.
    assert post_shown(FEED, TIES[Relation.OWNER], PRIVATE, "processing")


def test_tray_needs_a_follow_no_mute_and_visible_content() -> None:
    assert in_tray(Ties(V, O, follows=True), PRIVATE)
    assert not in_tray(Ties(V, O, follows=True, muted=True), PUBLIC)
    assert not in_tray(Ties(V, O), PUBLIC)
    assert not in_tray(Ties(V, O, follows=True, blocked=True), PUBLIC)
    assert not in_tray(Ties(V, O, follows=True), DELETED)


def test_comments_hide_blocked_commenters_and_are_deleted_by_their_or_the_posts_author() -> None:
    assert may_see_comment(True, Relation.STRANGER)
    assert not may_see_comment(True, Relation.BLOCKED)
    assert not may_see_comment(False, Relation.OWNER)
    assert may_delete_comment("c", "c", "a") and may_delete_comment("a", "c", "a")
    assert not may_delete_comment("x", "c", "a")


@pytest.mark.parametrize(
    ("ties", "account", "outcome"),
    [
        (Ties(V, O), PUBLIC, FollowOutcome.FOLLOW),
        (Ties(V, O), PRIVATE, FollowOutcome.REQUEST),
        (Ties(V, O, requested=True), PRIVATE, FollowOutcome.ALREADY),
        (Ties(V, O, follows=True), PRIVATE, FollowOutcome.ALREADY),
        (Ties(O, O), PUBLIC, FollowOutcome.SELF),
        (Ties(V, O, blocked=True), PUBLIC, FollowOutcome.HIDDEN),
        (Ties(V, O), DELETED, FollowOutcome.HIDDEN),
    ],
)
def test_follow_outcome(ties: Ties, account: Account, outcome: FollowOutcome) -> None:
    assert follow_outcome(ties, account) is outcome
