"""The social graph: follows, follow requests, blocks, mutes and close friends.

graph (by followed/blocked/muted user) ──maintain_graph──► edges, requests, mutes, counts
    follow, follow_requested
              → a public account is followed at once; a private one gets a pending
                request instead, unless the follow is the one an approval re-issued
                (``domain.graph.follow_decision``). A new follower's feed gets the
                followee's newest posts and their tray the live stories
                (``domain.fanout``); the follow removes the follower's pending request;
                a demoted celebrity's newest posts go to the active followers
    follow_request_approved (by the owner, keyed by the requester)
              → while the request is pending, the follow is re-issued as a system
                follow (``cause: approved``) keyed by the owner, whose partition holds
                that edge and count
    follow_request_denied, follow_request_cancelled → the request is removed
    unfollow  → the followee's posts leave the follower's feed
    block     → close friendship and pending requests end both ways (``sinks.graph``),
                and the reverse follow is re-issued as a system unfollow, keyed by the
                blocker (that edge lives in the blocker's partition)
    mute, unmute → the muter's muted set; the follow stays. Fan-out skips muters, so
                an unmute of someone followed brings back their newest posts and stories
    close friend added → the friend's tray gets the owner's live stories

The graph topic is keyed by the target user, so this agent owns that user's follower
edges and count, and one user's events run in order (``streams.keyed``); effects come
before the table writes, so a crash in between replays them (they are idempotent).
"""

from __future__ import annotations

import faust
import orjson

from domain.clock import now_ms
from domain.fanout import backfills_on_follow, demoted, demotion_recipients, is_celebrity
from domain.graph import (
    APPROVED,
    FollowEffect,
    approval_follows,
    approved_follow_id,
    edge_key,
    follow_change,
    follow_decision,
    may_mute,
)
from domain.stories import latest_visible_ms
from schemas.events import (
    Block,
    CloseFriendAdded,
    CloseFriendRemoved,
    EventBase,
    Follow,
    FollowRequestApproved,
    FollowRequestCancelled,
    FollowRequestDenied,
    FollowRequested,
    Mute,
    Unblock,
    Unfollow,
    Unmute,
    make_event,
)
from sinks import connections
from sinks import graph as graph_sink
from sinks.feeds import push_tail, read_last_seen, retract_author
from sinks.stories import raise_in_tray, read_author_stories
from streams.app import app, settings
from streams.codecs import process_or_dead_letter, valid_events
from streams.keyed import KeyedLocks
from streams.topics import graph_topic
from tables.graph import follow_edges, follower_counts

# Actors overlapping the round trips of different followed users (``streams.keyed``).
ACTORS = 8
_targets = KeyedLocks()


async def _reissue(event: EventBase, *, key: str) -> None:
    """A system event onto the graph topic, keyed by the user whose partition owns it."""
    await graph_topic.send(key=key.encode(), value=orjson.dumps(event.model_dump(mode="json")))


async def _stories_into_tray(viewer_id: str, author_id: str, *, close_friend: bool) -> None:
    """The author's newest live story the viewer may see, into the viewer's tray."""
    stories = await read_author_stories(connections, author_id)
    score = latest_visible_ms(stories, close_friend=close_friend, now_ms=now_ms())
    if score is not None:
        await raise_in_tray(connections, viewer_id=viewer_id, author_id=author_id, score=score)


async def _bring_in(follower_id: str, followee_id: str, followers: int) -> None:
    """The followee's newest posts into an active follower's feed, their stories into
    the follower's tray (a new follow, or an unmute of someone followed)."""
    seen = (await read_last_seen(connections, [follower_id]))[follower_id]
    if backfills_on_follow(
        followee_followers=followers,
        follower_last_seen_ms=seen,
        now_ms=now_ms(),
        celebrity_threshold=settings.celebrity_threshold,
        inactive_after_days=settings.inactive_after_days,
    ):
        await push_tail(connections, author_id=followee_id, recipients=[follower_id])
    close = await graph_sink.is_close_friend(connections, followee_id, follower_id)
    await _stories_into_tray(follower_id, followee_id, close_friend=close)


async def _set_follow(event: EventBase, follower_id: str, followee_id: str, follow: bool) -> None:
    key = edge_key(followee_id, follower_id)
    change = follow_change(bool(follow_edges[key]), follow=follow)
    threshold = settings.celebrity_threshold
    before = follower_counts[followee_id]
    count = max(0, before + change.count_delta)
    # Effects first, state after: a crash in between replays the (idempotent) effects
    # instead of finding the table already changed and skipping them.
    await graph_sink.write_follow(
        connections,
        follower_id=follower_id,
        followee_id=followee_id,
        present=change.present,
        follower_count=count,
        celebrity=is_celebrity(count, threshold),
        occurred_at=event.occurred_at,
    )
    if change.count_delta > 0:
        await _bring_in(follower_id, followee_id, count)
    elif change.count_delta < 0:
        await retract_author(connections, follower_id=follower_id, author_id=followee_id)
    if demoted(before, count, threshold):
        audience = await graph_sink.read_audience(connections, followee_id)
        recipients = demotion_recipients(
            audience, now_ms=now_ms(), inactive_after_days=settings.inactive_after_days
        )
        await push_tail(connections, author_id=followee_id, recipients=recipients)
    if change.count_delta:
        follow_edges[key] = change.present
        follower_counts[followee_id] = count


async def _follow(event: Follow | FollowRequested, *, approved: bool) -> None:
    follower_id, followee_id = event.user_id, event.target_id
    facts = await graph_sink.read_follow_facts(connections, follower_id, followee_id)
    following = bool(follow_edges[edge_key(followee_id, follower_id)])
    decision = follow_decision(
        follower_id, followee_id, facts, following=following, approved=approved
    )
    if decision.effect is FollowEffect.REQUEST:
        await _set_request(event, owner_id=followee_id, requester_id=follower_id, present=True)
    elif decision.effect is FollowEffect.FOLLOW:
        await _set_follow(event, follower_id, followee_id, True)
        if decision.clears_request:  # the request became this follow
            await _set_request(event, owner_id=followee_id, requester_id=follower_id, present=False)


async def _set_request(
    event: EventBase, *, owner_id: str, requester_id: str, present: bool
) -> None:
    await graph_sink.write_follow_request(
        connections,
        owner_id=owner_id,
        requester_id=requester_id,
        present=present,
        requested_at=event.occurred_at,
    )


async def _approve(event: FollowRequestApproved) -> None:
    owner_id, requester_id = event.user_id, event.target_id
    facts = await graph_sink.read_follow_facts(connections, requester_id, owner_id)
    if not approval_follows(facts):
        return  # not pending (answered, cancelled, blocked) or a replay after the follow
    follow = make_event(
        "follow",
        event_id=approved_follow_id(event.event_id),
        user_id=requester_id,
        target_id=owner_id,
        occurred_at=event.occurred_at,
        cause=APPROVED,
    )
    await _reissue(follow, key=owner_id)  # the edge and its count live with the owner


async def _mute(event: Mute | Unmute) -> None:
    muter_id, author_id = event.user_id, event.target_id
    if not may_mute(muter_id, author_id):
        return
    muted = isinstance(event, Mute)
    await graph_sink.write_mute(
        connections,
        user_id=muter_id,
        muted_id=author_id,
        present=muted,
        occurred_at=event.occurred_at,
    )
    if not muted and follow_edges[edge_key(author_id, muter_id)]:
        await _bring_in(muter_id, author_id, follower_counts[author_id])


async def _block(event: Block) -> None:
    await graph_sink.write_block(
        connections,
        blocker_id=event.user_id,
        blocked_id=event.target_id,
        present=True,
        occurred_at=event.occurred_at,
    )
    # blocker -> blocked lives here; blocked -> blocker lives in the blocker's partition.
    await _set_follow(event, event.user_id, event.target_id, False)
    reverse = make_event(
        "unfollow",
        event_id=f"{event.event_id}-reverse",
        user_id=event.target_id,
        target_id=event.user_id,
        occurred_at=event.occurred_at,
        cause="block",
    )
    await _reissue(reverse, key=event.user_id)


async def _handle(event: EventBase) -> None:
    if isinstance(event, Follow):
        await _follow(event, approved=(event.model_extra or {}).get("cause") == APPROVED)
    elif isinstance(event, FollowRequested):
        await _follow(event, approved=False)
    elif isinstance(event, Unfollow):
        await _set_follow(event, event.user_id, event.target_id, False)
    elif isinstance(event, FollowRequestApproved):
        await _approve(event)
    elif isinstance(event, FollowRequestDenied):  # by the owner, about the requester
        await _set_request(
            event, owner_id=event.user_id, requester_id=event.target_id, present=False
        )
    elif isinstance(event, FollowRequestCancelled):  # by the requester, to the owner
        await _set_request(
            event, owner_id=event.target_id, requester_id=event.user_id, present=False
        )
    elif isinstance(event, Mute | Unmute):
        await _mute(event)
    elif isinstance(event, Block):
        await _block(event)
    elif isinstance(event, Unblock):
        await graph_sink.write_block(
            connections,
            blocker_id=event.user_id,
            blocked_id=event.target_id,
            present=False,
            occurred_at=event.occurred_at,
        )
    elif isinstance(event, CloseFriendAdded | CloseFriendRemoved):
        added = isinstance(event, CloseFriendAdded)
        await graph_sink.write_close_friend(
            connections,
            user_id=event.user_id,
            friend_id=event.target_id,
            present=added,
            occurred_at=event.occurred_at,
        )
        if added:  # the owner's close-friends stories are now the friend's to see
            await _stories_into_tray(event.target_id, event.user_id, close_friend=True)


async def _handle_in_order(event: EventBase) -> None:
    # Events of one target user (its edges and count) run in order; users overlap.
    async with _targets.hold(event.target_id):  # type: ignore[attr-defined]
        await _handle(event)


@app.agent(graph_topic, concurrency=ACTORS)
async def maintain_graph(stream: faust.StreamT) -> None:
    async for event in valid_events(stream):
        await process_or_dead_letter(event, _handle_in_order)
