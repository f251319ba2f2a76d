"""Who may see and do what: the one visibility policy, without I/O.

Every route asks these functions, with facts its reader fetched (``Relation`` from
the viewer to the owner, the owner's ``Account``, the object's state). Anything a
viewer may not see does not exist for them: the routes answer 404 and lists drop it.

relation to the owner   public account              private account
---------------------   -------------------------   -------------------------
owner                   everything of their own     everything of their own
close friend            posts, stories (also the    same as public
                        close-friends ones), lists
follower                posts, stories, lists       same as public
requester / stranger    posts, stories, lists;      the profile card only
                        may follow                  (may request to follow)
blocked (either way)    nothing: the account is     nothing
                        404
anonymous               nothing (every route        nothing
                        asks for a token)
muted                   as the relation above, but the owner's posts and stories
                        leave the muter's feed and tray (the follow stays)

An object is visible only when live: a deleted post, story or comment, an expired
story, or anything of a deleted account is gone for everyone (its owner included,
except a post still processing or failed, which its owner sees). Interactions (like,
save, share, comment, view a story) need the object to be visible; a story's viewer
list and a failure reason are the owner's alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Relation(StrEnum):
    OWNER = "owner"
    CLOSE_FRIEND = "close_friend"
    FOLLOWER = "follower"
    REQUESTER = "requester"
    STRANGER = "stranger"
    BLOCKED = "blocked"
    ANONYMOUS = "anonymous"


# Relations that see a private account's content.
_INSIDE = frozenset({Relation.OWNER, Relation.CLOSE_FRIEND, Relation.FOLLOWER})


@dataclass(frozen=True)
class Ties:
    """What the read path knows about a viewer and one owner (all booleans one way or
    the other, as fetched from the graph)."""

    viewer_id: str | None
    owner_id: str
    follows: bool = False  # the viewer follows the owner
    close_friend: bool = False  # the viewer is on the owner's close-friends list
    requested: bool = False  # the viewer's follow request to the owner is pending
    blocked: bool = False  # either blocked the other
    muted: bool = False  # the viewer muted the owner


@dataclass(frozen=True)
class Account:
    private: bool = False
    deleted: bool = False


PUBLIC = Account()


def relation(ties: Ties) -> Relation:
    """The strongest relation that applies; a block outweighs everything but identity."""
    if ties.viewer_id is None:
        return Relation.ANONYMOUS
    if ties.viewer_id == ties.owner_id:
        return Relation.OWNER
    if ties.blocked:
        return Relation.BLOCKED
    if ties.close_friend and ties.follows:
        return Relation.CLOSE_FRIEND
    if ties.follows:
        return Relation.FOLLOWER
    if ties.requested:
        return Relation.REQUESTER
    return Relation.STRANGER


def may_see_account(rel: Relation, account: Account) -> bool:
    """The profile card (name, privacy, counts): everyone but the blocked, while it exists."""
    return not account.deleted and rel not in (Relation.BLOCKED, Relation.ANONYMOUS)


def may_see_content(rel: Relation, account: Account) -> bool:
    """Posts, stories, media, follower and following lists of this account."""
    if not may_see_account(rel, account):
        return False
    return not account.private or rel in _INSIDE


def may_see_post(rel: Relation, account: Account, state: str) -> bool:
    """A post (state: processing | ready | failed | deleted, '' when unknown)."""
    if state in ("", "deleted") or not may_see_content(rel, account):
        return False
    return rel is Relation.OWNER or state == "ready"


def may_see_story(rel: Relation, account: Account, *, live: bool, close_friends_only: bool) -> bool:
    """A story: live, and a close-friends one only for the owner and their close friends."""
    if not live or not may_see_content(rel, account):
        return False
    return not close_friends_only or rel in (Relation.OWNER, Relation.CLOSE_FRIEND)


def may_see_comment(post_visible: bool, commenter: Relation, deleted: bool = False) -> bool:
    """A comment on a post the viewer sees, unless its author and the viewer are blocked."""
    return post_visible and not deleted and commenter is not Relation.BLOCKED


def in_feed(ties: Ties, account: Account, state: str) -> bool:
    """A post in the home feed: visible, by someone the viewer follows and has not muted
    (or by the viewer)."""
    rel = relation(ties)
    if not may_see_post(rel, account, state):
        return False
    return rel is Relation.OWNER or (ties.follows and not ties.muted)


def in_tray(ties: Ties, account: Account) -> bool:
    """An author in the story tray: followed, not muted, content visible (each story is
    checked again by ``may_see_story`` when opened)."""
    rel = relation(ties)
    return ties.follows and not ties.muted and may_see_content(rel, account)


def in_discovery(ties: Ties, account: Account, state: str) -> bool:
    """A post in recommended, hashtag or trending surfaces: public, visible, not muted."""
    return may_see_post(relation(ties), account, state) and not ties.muted


class FollowOutcome(StrEnum):
    FOLLOW = "follow"  # the follow takes effect
    REQUEST = "request"  # a pending request to a private account
    ALREADY = "already"  # nothing to do
    SELF = "self"  # refused: 422
    HIDDEN = "hidden"  # refused as not found: 404


def follow_outcome(ties: Ties, account: Account) -> FollowOutcome:
    """What ``follow`` does: a public account is followed, a private one requested."""
    rel = relation(ties)
    if rel is Relation.OWNER:
        return FollowOutcome.SELF
    if not may_see_account(rel, account):
        return FollowOutcome.HIDDEN
    if rel in _INSIDE or rel is Relation.REQUESTER:
        return FollowOutcome.ALREADY
    return FollowOutcome.REQUEST if account.private else FollowOutcome.FOLLOW


# Where a post is shown decides which rule applies to it.
DIRECT = "direct"  # opened by id, a profile grid, a saved list
FEED = "feed"  # the home feed's followed sources (pushed and pulled)
DISCOVERY = "discovery"  # recommendations, hashtag pages


def post_shown(surface: str, ties: Ties, account: Account, state: str) -> bool:
    """The rule of ``surface`` for one post (``DIRECT``, ``FEED`` or ``DISCOVERY``)."""
    if surface == FEED:
        return in_feed(ties, account, state)
    if surface == DISCOVERY:
        return in_discovery(ties, account, state)
    return may_see_post(relation(ties), account, state)


def may_delete_comment(viewer_id: str, commenter_id: str, post_author_id: str) -> bool:
    """A comment is removed by its author or by the author of the post it is on."""
    return viewer_id in (commenter_id, post_author_id)
