"""Posts: wait for media, then fan out; deletions retract everywhere.

media (by media) ──forward_media_results──► media-by-owner (by owner) ─┐
posts (by author) ─────────────────────────────────────────────────────┴► track_posts
    apply: a post's state (domain.posts) → post_records, media_outcomes (counts and
           waiting posts derived from them, tables.posts.PostIndex); projection staged
    batch: hashes, tails and rows written (sinks.posts) → for the fresh ones, the
           audiences read and, in one pipeline (sinks.feeds),
             ready   → the feeds of the recipients domain.fanout picks
             deleted → out of every follower's feed, then its media removed
                       (sinks.media: original, renditions, hash and row)
           → table changes acked by the broker → events acked

Both inputs of ``track_posts`` are keyed by the author, so a post and the media it
waits for meet in one partition and one table; a post is pushed to followers only once
every medium is ready (a post without media is ready at once). A post's tail is
written before its audience is read (``sinks.feeds``), and a replay writes the same
versions again, which still count as fresh, so a crash replays its pushes. Batching,
durability and acks are ``streams.batching``'s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import faust

from domain.clock import now_ms as now
from domain.clock import to_micros
from domain.fanout import post_recipients
from domain.posts import DELETED, READY, on_created, on_deleted, on_media_outcome
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
from sinks.feeds import spread_posts
from sinks.graph import read_audiences
from sinks.posts import PostWrite, write_posts
from streams.app import app, settings
from streams.batching import Batching, run_batched
from streams.topics import media_by_owner_topic, media_topic, posts_and_media_topic
from tables.posts import outcomes_log, post_index, post_records, records_log

logger = logging.getLogger(__name__)

_RESULT_TYPES = (b'"media_ready"', b'"media_failed"')


@dataclass
class Effects:
    """A batch's post projections, in event order, and which deletions take media."""

    writes: list[PostWrite] = field(default_factory=list)
    removes_media: set[int] = field(default_factory=set)  # indexes into ``writes``


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


def _put_record(partition: int, post_id: str, record: dict[str, Any]) -> None:
    post_index.changed(post_id, records_log.raw.get(post_id), record, outcomes_log.raw)
    records_log.put(partition, post_id, record)


def _created(event: PostCreated, partition: int, effects: Effects) -> None:
    media_ids = [m.media_id for m in event.media]
    outcomes = {m: outcomes_log.raw[m] for m in media_ids if outcomes_log.raw.get(m)}
    t = on_created(
        records_log.raw.get(event.post_id),
        author_id=event.user_id,
        created_ms=event.occurred_ms,
        media_ids=media_ids,
        outcomes=outcomes,
        version=to_micros(event.occurred_at),
    )
    if t.changed:
        _put_record(partition, event.post_id, t.record)
    if t.record["state"] != DELETED:  # a tombstone: deleted before its creation arrived
        effects.writes.append(
            PostWrite(
                event.post_id,
                t.record,
                post_index.counts.get(event.user_id, 0),
                caption=event.caption,
                media=[m.model_dump() for m in event.media],
                event_id=event.event_id,
            )
        )


def _deleted(event: PostDeleted, partition: int, effects: Effects) -> None:
    t = on_deleted(
        records_log.raw.get(event.post_id),
        author_id=event.user_id,
        version=to_micros(event.occurred_at),
    )
    if t.record["author_id"] != event.user_id:
        return  # only the author deletes a post (the API checks it too)
    if t.changed:
        _put_record(partition, event.post_id, t.record)
    if t.projected:
        # Its media goes once the deletion is projected (again on a replay: idempotent).
        effects.removes_media.add(len(effects.writes))
        count = post_index.counts.get(event.user_id, 0)
        effects.writes.append(PostWrite(event.post_id, t.record, count))


def _media_result(event: MediaReady | MediaFailed, partition: int, effects: Effects) -> None:
    outcome = (
        {"state": "ready", "reason": None}
        if isinstance(event, MediaReady)
        else {"state": "failed", "reason": event.reason}
    )
    outcomes_log.put(partition, event.media_id, outcome)
    for post_id in list(post_index.waiters.get(event.media_id) or ()):
        record = records_log.raw.get(post_id)
        if record is None:
            continue
        outcomes = {m: outcomes_log.raw[m] for m in record["media"] if outcomes_log.raw.get(m)}
        t = on_media_outcome(record, outcomes, version=to_micros(event.occurred_at))
        if t.changed:
            _put_record(partition, post_id, t.record)
            count = post_index.counts.get(record["author_id"], 0)
            effects.writes.append(PostWrite(post_id, t.record, count))
    post_index.settled(event.media_id)


def apply_event(event: EventBase, partition: int, effects: Effects) -> None:
    """One post or media outcome, in the author's order: tables now, projection staged."""
    if isinstance(event, PostCreated):
        _created(event, partition, effects)
    elif isinstance(event, PostDeleted):
        _deleted(event, partition, effects)
    elif isinstance(event, MediaReady | MediaFailed):
        _media_result(event, partition, effects)


async def write_effects(effects: Effects) -> None:
    if not effects.writes:
        return
    fresh = await write_posts(connections, effects.writes)
    spread = [w for w, ok in zip(effects.writes, fresh, strict=True) if ok]
    spread = [w for w in spread if w.record["state"] in (READY, DELETED)]
    if not spread:
        return
    audiences = await read_audiences(connections, [w.record["author_id"] for w in spread])
    pushes: list[tuple[str, int, Any]] = []
    retractions: list[tuple[str, Any]] = []
    for w in spread:
        audience = audiences[w.record["author_id"]]
        if w.record["state"] == DELETED:
            retractions.append((w.post_id, audience.followers))
            continue
        fan = post_recipients(
            audience,
            now_ms=now(),
            celebrity_threshold=settings.celebrity_threshold,
            inactive_after_days=settings.inactive_after_days,
        )
        pushes.append((w.post_id, int(w.record["created_ms"]), fan.recipients))
    await spread_posts(connections, pushes, retractions)
    for i in sorted(effects.removes_media):
        w = effects.writes[i]
        if fresh[i]:
            await media_sink.remove_media(
                connections, list(w.record.get("media") or ()), owner_id=w.record["author_id"]
            )


BATCHING = Batching(
    apply=apply_event,
    new_effects=Effects,
    write_effects=write_effects,
    changelogs=(records_log, outcomes_log),
    max_events=settings.posts_batch_max,
    within_s=settings.posts_batch_within_s,
)


@app.agent(posts_and_media_topic)
async def track_posts(stream: faust.StreamT) -> None:
    await run_batched(stream, BATCHING)


async def reindex() -> None:
    """After a recovery: the post counts and waiting posts from the recovered records."""
    post_index.recompute(list(records_log.raw.items()), outcomes_log.raw)
    logger.info("indexed %d posts' counts and waits", len(records_log.raw))


post_records.on_recover(reindex)
