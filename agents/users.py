"""Users: profiles, and what opening the feed changes.

users (by user) ──track_users──► profile_updated → Cassandra ``users`` and the Redis
                                 profile; a public profile approves every pending
                                 follow request (one follow_request_approved each,
                                 onto the graph topic, keyed by the requester);
                                 feed_opened → the user is active again, and one
                                 returning after a while gets their feed rebuilt

A user marked active receives pushes from then on; one who was idle past
``inactive_after_days`` got none meanwhile, so their candidates are rebuilt from their
followees' newest posts (the API serves that merge on read until this lands). Marking
comes first: a post fanned out after it is pushed, one before it is in the tails.
The profile is written before the pending requests are read, so a request made after
an account went public finds it public and follows at once. Batched
(``streams.batching``): a batch's profiles go out as UNLOGGED batches and one Redis
pipeline, its approvals through ``streams.forward``, then the events are acked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import faust
import orjson

from clients.kafka import producer_config
from domain.clock import now_ms
from domain.feeds import is_returning
from domain.graph import approval_id, approves_pending
from schemas.events import EventBase, FeedOpened, ProfileUpdated, make_event
from schemas.topics import GRAPH
from sinks import connections
from sinks import graph as graph_sink
from sinks.feeds import mark_active, read_last_seen, rebuild_feed
from sinks.users import write_profiles
from streams.app import app, settings
from streams.batching import Batching, run_batched
from streams.forward import Copy, Forwarder
from streams.topics import users_topic

# Approvals onto the graph topic, every ack awaited before the batch is acked.
approval_events = Forwarder(GRAPH.name(settings.namespace), producer_config(settings))


@dataclass
class Effects:
    """A batch's profile changes and feed openings, in event order."""

    profiles: list[ProfileUpdated] = field(default_factory=list)
    opened: list[FeedOpened] = field(default_factory=list)


def apply_event(event: EventBase, partition: int, effects: Effects) -> None:
    if isinstance(event, ProfileUpdated):
        effects.profiles.append(event)
    elif isinstance(event, FeedOpened):
        effects.opened.append(event)


async def _feed_opened(event: FeedOpened) -> None:
    user = event.user_id
    seen = (await read_last_seen(connections, [user]))[user]
    now = now_ms()
    await mark_active(connections, user, max(event.occurred_ms, int(seen or 0)))
    if is_returning(seen, now, settings.inactive_after_days):
        await rebuild_feed(connections, user)


async def _approvals(event: ProfileUpdated) -> list[Copy]:
    """A profile gone public: one follow_request_approved per pending request, keyed by
    the requester like every approval (the graph topic's key is target_id)."""
    copies = []
    for requester_id in await graph_sink.read_follow_requests(connections, event.user_id):
        approval = make_event(
            "follow_request_approved",
            event_id=approval_id(event.event_id, requester_id),
            user_id=event.user_id,
            target_id=requester_id,
            occurred_at=event.occurred_at,
        )
        copies.append((requester_id.encode(), orjson.dumps(approval.model_dump(mode="json"))))
    return copies


async def write_effects(effects: Effects) -> None:
    newest = await write_profiles(connections, effects.profiles) if effects.profiles else []
    approvals: list[Copy] = []
    for event, fresh in zip(effects.profiles, newest, strict=True):
        if approves_pending(private=event.is_private, newest=fresh):
            approvals += await _approvals(event)
    if approvals:
        await approval_events.send(approvals)
    for event in effects.opened:  # rare next to profiles: one at a time, in order
        await _feed_opened(event)


BATCHING = Batching(
    apply=apply_event,
    new_effects=Effects,
    write_effects=write_effects,
    changelogs=(),
    max_events=settings.users_batch_max,
    within_s=settings.users_batch_within_s,
)


@app.agent(users_topic)
async def track_users(stream: faust.StreamT) -> None:
    await run_batched(stream, BATCHING)
