"""Profiles: ``profile_updated`` -> Cassandra ``users`` and the Redis profile cache."""

from __future__ import annotations

import faust

from schemas.events import EventBase, ProfileUpdated
from sinks import connections
from sinks.users import write_profile
from streams.app import app
from streams.codecs import process_or_dead_letter, valid_events
from streams.topics import users_topic


async def _handle(event: EventBase) -> None:
    if isinstance(event, ProfileUpdated):
        await write_profile(connections, event)


@app.agent(users_topic)
async def update_profiles(stream: faust.StreamT) -> None:
    async for event in valid_events(stream):
        await process_or_dead_letter(event, _handle)
