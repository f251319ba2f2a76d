"""The social graph: follows, blocks and close friends, and what each one changes at once.

graph (by followed/blocked user) ──maintain_graph──► edges and exact follower counts
    follow    → the follower's feed gets the followee's newest posts (``domain.fanout``)
                and their tray the followee's live stories; a demoted celebrity's
                newest posts go to the active followers
    unfollow  → the followee's posts leave the follower's feed
    block     → the reverse follow is re-issued as a system unfollow, keyed by the
                blocker (that edge lives in the blocker's partition)
    close friend added → the friend's tray gets the owner's live stories, theirs too

The graph topic is keyed by the followed user, so this agent owns that user's follower
edges and count, and one user's events run in order (``streams.keyed``); effects come
before the table writes, so a crash in between replays them (they are idempotent).
"""

from __future__ import annotations

import faust
import orjson

from domain.clock import now_ms
from domain.fanout import backfills_on_follow, demoted, demotion_recipients, is_celebrity
from domain.graph import edge_key, follow_change, may_follow
from domain.stories import latest_visible_ms
from schemas.events import (
    Block,
    CloseFriendAdded,
    CloseFriendRemoved,
    EventBase,
    Follow,
    Unblock,
    Unfollow,
    make_event,
)
from sinks import connections
from sinks.feeds import push_tail, read_last_seen, retract_author
from sinks.graph import (
    is_close_friend,
    is_hidden,
    read_audience,
    write_block,
    write_close_friend,
    write_follow,
)
from sinks.stories import raise_in_tray, read_author_stories
from streams.app import app, settings
from streams.codecs import process_or_dead_letter, valid_events
from streams.keyed import KeyedLocks
from streams.topics import graph_topic
from tables.graph import follow_edges, follower_counts

# Actors overlapping the round trips of different followed users (``streams.keyed``).
ACTORS = 8
_targets = KeyedLocks()


async def _stories_into_tray(viewer_id: str, author_id: str, *, close_friend: bool) -> None:
    """The author's newest live story the viewer may see, into the viewer's tray."""
    stories = await read_author_stories(connections, author_id)
    score = latest_visible_ms(stories, close_friend=close_friend, now_ms=now_ms())
    if score is not None:
        await raise_in_tray(connections, viewer_id=viewer_id, author_id=author_id, score=score)


async def _set_follow(event: EventBase, follower_id: str, followee_id: str, follow: bool) -> None:
    allowed = True
    if follow:
        hidden = await is_hidden(connections, follower_id, followee_id)
        allowed = may_follow(follower_id, followee_id, {followee_id} if hidden else set())
    key = edge_key(followee_id, follower_id)
    change = follow_change(bool(follow_edges[key]), follow=follow, allowed=allowed)
    if follow and not change.present:
        return  # refused: self-follow or a block either way
    threshold = settings.celebrity_threshold
    before = follower_counts[followee_id]
    count = max(0, before + change.count_delta)
    # Effects first, state after: a crash in between replays the (idempotent) effects
    # instead of finding the table already changed and skipping them.
    await write_follow(
        connections,
        follower_id=follower_id,
        followee_id=followee_id,
        present=change.present,
        follower_count=count,
        celebrity=is_celebrity(count, threshold),
        occurred_at=event.occurred_at,
    )
    now = now_ms()
    if change.count_delta > 0:
        seen = (await read_last_seen(connections, [follower_id]))[follower_id]
        if backfills_on_follow(
            followee_followers=count,
            follower_last_seen_ms=seen,
            now_ms=now,
            celebrity_threshold=threshold,
            inactive_after_days=settings.inactive_after_days,
        ):
            await push_tail(connections, author_id=followee_id, recipients=[follower_id])
        close = await is_close_friend(connections, followee_id, follower_id)
        await _stories_into_tray(follower_id, followee_id, close_friend=close)
    elif change.count_delta < 0:
        await retract_author(connections, follower_id=follower_id, author_id=followee_id)
    if demoted(before, count, threshold):
        audience = await read_audience(connections, followee_id)
        recipients = demotion_recipients(
            audience, now_ms=now, inactive_after_days=settings.inactive_after_days
        )
        await push_tail(connections, author_id=followee_id, recipients=recipients)
    if change.count_delta:
        follow_edges[key] = change.present
        follower_counts[followee_id] = count


async def _handle(event: EventBase) -> None:
    if isinstance(event, Follow | Unfollow):
        await _set_follow(event, event.user_id, event.target_id, isinstance(event, Follow))
    elif isinstance(event, Block):
        await write_block(
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
        await graph_topic.send(
            key=event.user_id.encode(), value=orjson.dumps(reverse.model_dump(mode="json"))
        )
    elif isinstance(event, Unblock):
        await write_block(
            connections,
            blocker_id=event.user_id,
            blocked_id=event.target_id,
            present=False,
            occurred_at=event.occurred_at,
        )
    elif isinstance(event, CloseFriendAdded | CloseFriendRemoved):
        added = isinstance(event, CloseFriendAdded)
        await write_close_friend(
            connections,
            user_id=event.user_id,
            friend_id=event.target_id,
            present=added,
            occurred_at=event.occurred_at,
        )
        if added:  # the owner's close-friends stories are now the friend's to see
            await _stories_into_tray(event.target_id, event.user_id, close_friend=True)


async def _handle_in_order(event: EventBase) -> None:
    # Events of one followed user (its edges and count) run in order; users overlap.
    async with _targets.hold(event.target_id):  # type: ignore[attr-defined]
        await _handle(event)


@app.agent(graph_topic, concurrency=ACTORS)
async def maintain_graph(stream: faust.StreamT) -> None:
    async for event in valid_events(stream):
        await process_or_dead_letter(event, _handle_in_order)
