"""Posts: wait for media, then fan out; deletions retract everywhere.

media (by media) ──forward_media_results──► media-by-owner (by owner) ─┐
posts (by author) ─────────────────────────────────────────────────────┴► track_posts
    a post's state (domain.posts) → its hash, tails and rows (sinks.posts)
    ready   → the feeds of the recipients domain.fanout picks from its audience
    deleted → out of every follower's feed, then its media removed (sinks.media:
              original, renditions, hash and row)

Both inputs of ``track_posts`` are keyed by the author, so a post and the media it
waits for meet in one partition and one table; a post is pushed to followers only once
every medium is ready (a post without media is ready at once). Effects run before the
table writes, so a crash in between replays them (they are idempotent) instead of
skipping them. Several actors overlap I/O; a per-author lock keeps each author's events
in order.
"""

from __future__ import annotations

from typing import Any

import faust

from domain.clock import now_ms as now
from domain.clock import to_micros
from domain.fanout import post_recipients
from domain.posts import DELETED, PROCESSING, READY, on_created, on_deleted, on_media_outcome
from schemas.events import (
    EventBase,
    InvalidEvent,
    MediaFailed,
    MediaReady,
    PostCreated,
    PostDeleted,
    decode_event,
)
from sinks import connections
from sinks import media as media_sink
from sinks.feeds import push_post, retract_post
from sinks.graph import read_audience
from sinks.posts import write_post
from streams.app import app, settings
from streams.codecs import process_or_dead_letter, valid_events
from streams.keyed import KeyedLocks
from streams.topics import media_by_owner_topic, media_topic, posts_and_media_topic
from tables.posts import media_outcomes, media_waiters, post_counts, post_records

_RESULT_TYPES = (b'"media_ready"', b'"media_failed"')

# Actors overlapping the Redis and Cassandra round trips of different authors; one
# author's events still run one at a time, in order (``streams.keyed``).
ACTORS = 8
_authors = KeyedLocks()


async def _spread(post_id: str, record: dict[str, Any]) -> None:
    """A fresh state of a post reaches the feeds: pushed once ready, retracted once deleted."""
    if record["state"] not in (READY, DELETED):
        return
    audience = await read_audience(connections, record["author_id"])
    if record["state"] == DELETED:
        await retract_post(connections, post_id=post_id, followers=audience.followers)
        return
    fan = post_recipients(
        audience,
        now_ms=now(),
        celebrity_threshold=settings.celebrity_threshold,
        inactive_after_days=settings.inactive_after_days,
    )
    await push_post(
        connections,
        post_id=post_id,
        created_ms=int(record["created_ms"]),
        recipients=fan.recipients,
    )


@app.agent(media_topic)
async def forward_media_results(stream: faust.StreamT) -> None:
    """Re-key media results by owner; the media agent dead-letters bad messages."""
    async for value in stream:
        if not value or not any(t in value for t in _RESULT_TYPES):
            continue
        try:
            event = decode_event(value)
        except InvalidEvent:
            continue
        if isinstance(event, MediaReady | MediaFailed):
            await media_by_owner_topic.send(key=event.user_id.encode(), value=value)


async def _created(event: PostCreated) -> None:
    media_ids = [m.media_id for m in event.media]
    outcomes = {m: media_outcomes[m] for m in media_ids if media_outcomes.get(m)}
    t = on_created(
        post_records.get(event.post_id),
        author_id=event.user_id,
        created_ms=event.occurred_ms,
        media_ids=media_ids,
        outcomes=outcomes,
        version=to_micros(event.occurred_at),
    )
    count = post_counts[event.user_id] + t.count_delta
    if t.record["state"] != DELETED:  # a tombstone: deleted before its creation arrived
        fresh = await write_post(
            connections,
            post_id=event.post_id,
            record=t.record,
            post_count=count,
            caption=event.caption,
            media=[m.model_dump() for m in event.media],
            event_id=event.event_id,
        )
        if fresh:
            await _spread(event.post_id, t.record)
    if t.changed:
        post_records[event.post_id] = t.record
        post_counts[event.user_id] = count
        if t.record["state"] == PROCESSING:
            for media_id in media_ids:
                waiting = media_waiters.get(media_id) or []
                if event.post_id not in waiting:
                    media_waiters[media_id] = [*waiting, event.post_id]


async def _deleted(event: PostDeleted) -> None:
    t = on_deleted(
        post_records.get(event.post_id),
        author_id=event.user_id,
        version=to_micros(event.occurred_at),
    )
    if t.record["author_id"] != event.user_id:
        return  # only the author deletes a post (the API checks it too)
    count = max(0, post_counts[event.user_id] + t.count_delta)
    if t.projected and await write_post(
        connections, post_id=event.post_id, record=t.record, post_count=count
    ):
        await _spread(event.post_id, t.record)
        # Once the deletion is projected (and again on a replay: the removal is idempotent).
        await media_sink.remove_media(
            connections, list(t.record.get("media") or ()), owner_id=event.user_id
        )
    if t.changed:
        post_records[event.post_id] = t.record
        post_counts[event.user_id] = count


async def _media_result(event: MediaReady | MediaFailed) -> None:
    outcome = (
        {"state": "ready", "reason": None}
        if isinstance(event, MediaReady)
        else {"state": "failed", "reason": event.reason}
    )
    updates = []
    for post_id in media_waiters.get(event.media_id) or []:
        record = post_records.get(post_id)
        if record is None:
            continue
        outcomes = {m: media_outcomes[m] for m in record["media"] if media_outcomes.get(m)}
        outcomes[event.media_id] = outcome
        t = on_media_outcome(record, outcomes, version=to_micros(event.occurred_at))
        if t.changed:
            fresh = await write_post(
                connections,
                post_id=post_id,
                record=t.record,
                post_count=post_counts[record["author_id"]],
            )
            if fresh:
                await _spread(post_id, t.record)
            updates.append((post_id, t.record))
    media_outcomes[event.media_id] = outcome
    for post_id, record in updates:
        post_records[post_id] = record
    if media_waiters.get(event.media_id):
        del media_waiters[event.media_id]


async def _handle(event: EventBase) -> None:
    # Everything of one author (posts and their media) runs in order, authors overlap.
    async with _authors.hold(event.user_id):
        if isinstance(event, PostCreated):
            await _created(event)
        elif isinstance(event, PostDeleted):
            await _deleted(event)
        elif isinstance(event, MediaReady | MediaFailed):
            await _media_result(event)


@app.agent(posts_and_media_topic, concurrency=ACTORS)
async def track_posts(stream: faust.StreamT) -> None:
    async for event in valid_events(stream):
        await process_or_dead_letter(event, _handle)
