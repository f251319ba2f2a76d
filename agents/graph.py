"""The social graph: follows, blocks and close friends -> Cassandra, Redis and exact counts.

The graph topic is keyed by the followed (or blocked) user, so this agent owns that
user's follower edges and follower count. A block also removes the reverse follow,
whose edge lives in the blocker's partition: it is re-issued as a system ``unfollow``
keyed by the blocker, which that partition applies like any other.
"""

from __future__ import annotations

import time

import faust
import orjson

from domain.feeds import demoted
from domain.graph import edge_key, follow_change, may_follow
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
from sinks.feeds import push_tail_to_followers
from sinks.graph import write_block, write_close_friend, write_follow
from streams.app import app, settings
from streams.codecs import process_or_dead_letter, valid_events
from streams.keyed import KeyedLocks
from streams.topics import graph_topic
from tables.graph import follow_edges, follower_counts

# Actors overlapping the round trips of different followed users (``streams.keyed``).
ACTORS = 8
_targets = KeyedLocks()


async def _set_follow(event: EventBase, follower_id: str, followee_id: str, follow: bool) -> None:
    allowed = True
    if follow:
        hidden = await connections.redis().sismember(
            connections.keys.blocked(follower_id), followee_id
        )
        allowed = may_follow(follower_id, followee_id, {followee_id} if hidden else set())
    key = edge_key(followee_id, follower_id)
    change = follow_change(bool(follow_edges[key]), follow=follow, allowed=allowed)
    if follow and not change.present:
        return  # refused: self-follow or a block either way
    before = follower_counts[followee_id]
    count = max(0, before + change.count_delta)
    now_ms = int(time.time() * 1000)
    # Effects first, state after: a crash in between replays the (idempotent) effects
    # instead of finding the table already changed and skipping them.
    await write_follow(
        connections,
        follower_id=follower_id,
        followee_id=followee_id,
        present=change.present,
        follower_count=count,
        occurred_at=event.occurred_at,
        now_ms=now_ms,
    )
    if demoted(before, count, settings.celebrity_threshold):
        await push_tail_to_followers(connections, followee_id, now_ms=now_ms)
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
        await write_close_friend(
            connections,
            user_id=event.user_id,
            friend_id=event.target_id,
            present=isinstance(event, CloseFriendAdded),
            occurred_at=event.occurred_at,
        )


async def _handle_in_order(event: EventBase) -> None:
    # Events of one followed user (its edges and count) run in order; users overlap.
    async with _targets.hold(event.target_id):  # type: ignore[attr-defined]
        await _handle(event)


@app.agent(graph_topic, concurrency=ACTORS)
async def maintain_graph(stream: faust.StreamT) -> None:
    async for event in valid_events(stream):
        await process_or_dead_letter(event, _handle_in_order)
