"""Engagement: likes, saves, comments and shares -> exact marks -> counts, flushed.

``index_posts_by_id`` re-keys post_created/post_deleted by post onto ``posts-by-id``,
co-partitioned with the engagement topic, so ``count_engagement`` learns which posts
are live in the same partition as their likes: likes on deleted posts are dropped,
likes on posts not yet known are held (the post_created may still be in flight) and
shown only once the post is live.

``count_engagement`` takes the events in batches, applies each to its mark (last
writer wins, so duplicates and replays change nothing), writes every changed mark
once per batch and waits for the changelog before the batch is acked
(at-least-once, idempotent on replay). ``flush_post_counts`` projects the changed
posts' absolute counts every ``counter_flush_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import faust

from domain.engagement import (
    COMMENTS,
    DELETED,
    INDEX,
    LIKES,
    LIVE,
    SAVES,
    TAG,
    Mark,
    action_of,
    apply,
    empty_counts,
    lifecycle_after,
)
from schemas.events import (
    CommentCreated,
    InvalidEvent,
    PostCreated,
    PostDeleted,
    decode_event,
)
from streams.app import app, settings
from streams.codecs import dead_letter
from streams.topics import engagement_topic, posts_by_id_topic, posts_topic
from tables.engagement import (
    counters,
    engagement_marks,
    lifecycle_log,
    lifecycle_of,
    marks_log,
)
from tables.sinks import connections
from tables.sinks.engagement import (
    CommentWrite,
    SaveWrite,
    write_comments,
    write_post_counts,
    write_saves,
)

logger = logging.getLogger(__name__)

# Both topics have the engagement partitioning, so partition n of each meets here.
engagement_sources = app.topic(
    engagement_topic.get_topic_name(),
    posts_by_id_topic.get_topic_name(),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)

# Backoff while Cassandra or Redis refuse a batch's writes: the batch waits, unacked.
_RETRY_S = 1.0


@app.agent(posts_topic)
async def index_posts_by_id(stream: faust.StreamT) -> None:
    # Re-key by post: posts are keyed by author, the counters by post.
    async for event in stream.events():
        try:
            post = decode_event(event.value)
        except InvalidEvent:
            continue  # the posts agent dead-letters it
        if isinstance(post, PostCreated | PostDeleted):
            await posts_by_id_topic.send(key=post.post_id.encode(), value=event.value)


@dataclass
class Batch:
    """Events applied to the marks but not yet durable, and their side effects."""

    records: list[Any] = field(default_factory=list)
    invalid: list[tuple[Any, str]] = field(default_factory=list)
    comments: list[CommentWrite] = field(default_factory=list)
    saves: list[SaveWrite] = field(default_factory=list)


class BatchPipeline:
    """Apply events as they arrive; make them durable a batch at a time, then ack them.

    The stream does not ack on its own (``enable_acks`` off): a batch's events are
    acked only after its effects and changelog records are written, so a crash replays
    them, and replays change nothing. Committing runs beside the stream, so the next
    batch is applied while the previous one waits for the broker.
    """

    def __init__(self, stream: faust.StreamT, *, max_events: int, within_s: float) -> None:
        self.stream = stream
        self.max_events = max_events
        self.within_s = within_s
        self.open = Batch()
        self._full = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    async def add(self, record: Any) -> None:
        while len(self.open.records) >= self.max_events:
            self._room.clear()
            await self._room.wait()
        apply_event(record, self.open)
        if len(self.open.records) >= self.max_events:
            self._full.set()

    def seal(self) -> tuple[Batch, list[Any], list[Any]]:
        # No await in here: the batch and its staged records are cut at one point.
        batch, self.open = self.open, Batch()
        self._room.set()
        return batch, marks_log.seal(), lifecycle_log.seal()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), timeout=self.within_s)
            self._full.clear()
            if self.open.records:
                await self.commit(*self.seal())

    async def commit(self, batch: Batch, marks: list[Any], lifecycle: list[Any]) -> None:
        # Effects first, then the marks: a crash in between replays the events, and the
        # effects are idempotent; the other order could lose them.
        await _with_retries("comment and save writes", _write_effects, batch)
        await marks_log.send(marks)
        await lifecycle_log.send(lifecycle)
        for message, reason in batch.invalid:
            await _with_retries("dead-lettering", dead_letter, message, reason, "validate")
        for record in batch.records:
            await self.stream.ack(record)


@app.agent(engagement_sources)
async def count_engagement(stream: faust.StreamT) -> None:
    stream.enable_acks = False  # acked by the pipeline once durable
    pipeline = BatchPipeline(
        stream,
        max_events=settings.engagement_batch_max,
        within_s=settings.engagement_batch_within_s,
    )
    committer = asyncio.ensure_future(pipeline.run())
    try:
        async for record in stream.events():
            await pipeline.add(record)
    finally:
        committer.cancel()


def apply_event(record: Any, batch: Batch) -> None:
    """Apply one message to the marks and counts; stage its durable writes in ``batch``."""
    batch.records.append(record)
    try:
        event = decode_event(record.value)
    except InvalidEvent as exc:
        batch.invalid.append((record.message, exc.reason))
        return
    partition = record.message.partition
    if isinstance(event, PostCreated | PostDeleted):
        after = lifecycle_after(lifecycle_of(event.post_id), deleted=isinstance(event, PostDeleted))
        if after is not None:
            lifecycle_log.put(partition, event.post_id, [after, event.occurred_ms])
            counters.dirty_posts.add(event.post_id)
        return
    action = action_of(event)
    if action is None or lifecycle_of(action.post_id) == DELETED:
        return  # never counted on a deleted post
    key = (action.post_id, TAG[action.kind], action.member)
    raw = marks_log.raw.get(key)
    change = apply(
        Mark.from_json(raw) if raw else None,
        present=action.present,
        ms=event.occurred_ms,
        event_id=event.event_id,
    )
    if change is None:
        return  # a duplicate, a replay or a stale retry
    marks_log.put(partition, key, change.mark.to_json())
    if change.delta:
        counters.add(action.post_id, INDEX[action.kind], change.delta)
        counters.dirty_posts.add(action.post_id)
        if action.kind == LIKES:
            counters.dirty_likers.setdefault(action.post_id, {})[action.member] = action.present
    if action.kind == COMMENTS:
        batch.comments.append(
            CommentWrite(
                action.post_id,
                action.member,
                action.present,
                event.occurred_ms,
                change.mark.version,
                event.user_id,
                event.text if isinstance(event, CommentCreated) else "",
            )
        )
    elif action.kind == SAVES:
        batch.saves.append(
            SaveWrite(
                action.member,
                action.post_id,
                action.present,
                change.mark.version,
                change.mark.since_ms,
            )
        )


async def _write_effects(batch: Batch) -> None:
    await asyncio.gather(
        write_comments(connections, batch.comments), write_saves(connections, batch.saves)
    )


async def _with_retries(what: str, fn: Any, *args: Any) -> None:
    # Never give up on a batch: acking it without its writes would lose them.
    while True:
        try:
            await fn(*args)
            return
        except Exception:
            logger.exception("%s failed; retrying", what)
            await asyncio.sleep(_RETRY_S)


async def recount() -> None:
    """After a recovery: counts from the recovered marks, everything flushed again."""
    counters.recompute(list(marks_log.raw.items()))
    logger.info("recounted %d posts from %d marks", len(counters.counts), len(marks_log.raw))


engagement_marks.on_recover(recount)


async def flush_once() -> int:
    """Write the changed posts' absolute counts; returns Cassandra writes made."""
    posts, counters.dirty_posts = counters.dirty_posts, set()
    likers, counters.dirty_likers = counters.dirty_likers, {}
    live: dict[str, list[int]] = {}
    deleted: list[str] = []
    for post_id in posts:
        state = lifecycle_of(post_id)
        if state == LIVE:
            live[post_id] = list(counters.counts.get(post_id) or empty_counts())
        elif state == DELETED:
            deleted.append(post_id)
    live_likers = {}
    for post_id, members in likers.items():
        state = lifecycle_of(post_id)
        if state == LIVE:
            live_likers[post_id] = members
        elif state is None:
            # Held until the post is known; flushed with it.
            _restore({}, {post_id: members})
    if not live and not deleted and not live_likers:
        return 0
    try:
        writes = await write_post_counts(
            connections, live, deleted, live_likers, now_ms=int(time.time() * 1000)
        )
    except Exception:
        _restore(posts, likers)
        raise
    logger.info(
        "flushed counts of %d posts (%d Cassandra writes)", len(live) + len(deleted), writes
    )
    return writes


def _restore(posts: set[str] | dict[str, Any], likers: dict[str, dict[str, bool]]) -> None:
    counters.dirty_posts.update(posts)
    for post_id, members in likers.items():
        current = counters.dirty_likers.setdefault(post_id, {})
        for user_id, liked in members.items():
            current.setdefault(user_id, liked)  # a newer change wins


@app.timer(settings.counter_flush_interval_s)
async def flush_post_counts() -> None:
    # A timer that raises crashes the worker; a failed flush is retried next tick.
    try:
        await flush_once()
    except Exception:
        logger.exception("flushing post counts failed; retrying next tick")
