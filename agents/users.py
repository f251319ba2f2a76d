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
an account went public finds it public and follows at once.
"""

from __future__ import annotations

import faust
import orjson

from domain.clock import now_ms
from domain.feeds import is_returning
from domain.graph import approval_id, approves_pending
from schemas.events import EventBase, FeedOpened, ProfileUpdated, make_event
from sinks import connections
from sinks import graph as graph_sink
from sinks.feeds import mark_active, read_last_seen, rebuild_feed
from sinks.users import write_profile
from streams.app import app, settings
from streams.codecs import process_or_dead_letter, valid_events
from streams.topics import graph_topic, users_topic


async def _feed_opened(event: FeedOpened) -> None:
    user = event.user_id
    seen = (await read_last_seen(connections, [user]))[user]
    now = now_ms()
    await mark_active(connections, user, max(event.occurred_ms, int(seen or 0)))
    if is_returning(seen, now, settings.inactive_after_days):
        await rebuild_feed(connections, user)


async def _profile_updated(event: ProfileUpdated) -> None:
    newest = await write_profile(connections, event)
    if not approves_pending(private=event.is_private, newest=bool(newest)):
        return
    for requester_id in await graph_sink.read_follow_requests(connections, event.user_id):
        approval = make_event(
            "follow_request_approved",
            event_id=approval_id(event.event_id, requester_id),
            user_id=event.user_id,
            target_id=requester_id,
            occurred_at=event.occurred_at,
        )
        # Keyed by the requester, like every approval (the graph topic's key is target_id).
        await graph_topic.send(
            key=requester_id.encode(), value=orjson.dumps(approval.model_dump(mode="json"))
        )


async def _handle(event: EventBase) -> None:
    if isinstance(event, ProfileUpdated):
        await _profile_updated(event)
    elif isinstance(event, FeedOpened):
        await _feed_opened(event)


@app.agent(users_topic)
async def track_users(stream: faust.StreamT) -> None:
    async for event in valid_events(stream):
        await process_or_dead_letter(event, _handle)
