"""Engagement: likes, saves, comments and shares -> exact marks -> counts, flushed.

posts (by author) ──index_posts_by_id──► posts-by-id (by post) ─┐
engagement (by post) ────────────────────────────────────────────┴► count_engagement
    apply: the post's lifecycle or the mark's change (domain.engagement)
           → marks and lifecycle tables, counters, comment and save rows staged
    batch: rows written → table changes acked by the broker → events acked
flush_post_counts (timer) ──► each changed post's absolute counts and likers (and
                               each liker's own index of the posts they like)

Re-keying by post puts a post's lifecycle in the partition of its likes: likes on a
deleted post are dropped, likes on a post not yet known are held and shown once it is
live. A share's index entry (sharer -> share id -> post) is written with the batch's
rows, so an account deletion finds every share to take back (``share_removed``).
Batching, durability and acks are ``streams.batching``'s.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import faust

from domain.clock import now_ms
from domain.engagement import (
    COMMENTS,
    DELETED,
    INDEX,
    LIKES,
    SAVES,
    SHARES,
    TAG,
    Mark,
    action_of,
    apply,
    lifecycle_after,
    plan_flush,
)
from schemas.events import (
    CommentCreated,
    EventBase,
    InvalidEvent,
    PostCreated,
    PostDeleted,
    decode_event,
)
from sinks import connections
from sinks import engagement as engagement_sink
from sinks.engagement import (
    CommentWrite,
    SaveWrite,
    ShareWrite,
    write_comments,
    write_post_counts,
    write_saves,
)
from streams.app import app, settings
from streams.batching import Batching, run_batched
from streams.topics import engagement_sources_topic, posts_by_id_topic, posts_topic
from tables.engagement import (
    counters,
    engagement_marks,
    lifecycle_log,
    lifecycle_of,
    lifecycle_owner,
    marks_log,
)

logger = logging.getLogger(__name__)


@app.agent(posts_topic)
async def index_posts_by_id(stream: faust.StreamT) -> None:
    """Re-key post_created/post_deleted by post: posts are keyed by author, counts by post."""
    async for event in stream.events():
        try:
            post = decode_event(event.value)
        except InvalidEvent:
            continue  # the posts agent dead-letters it
        if isinstance(post, PostCreated | PostDeleted):
            await posts_by_id_topic.send(key=post.post_id.encode(), value=event.value)


@dataclass
class Effects:
    """A batch's rows for the sinks, written before its marks are acked."""

    comments: list[CommentWrite] = field(default_factory=list)
    saves: list[SaveWrite] = field(default_factory=list)
    shares: list[ShareWrite] = field(default_factory=list)  # the sharers' indexes


def apply_event(event: EventBase, partition: int, effects: Effects) -> None:
    """One event: its post's lifecycle, or its mark; stage the rows it changes."""
    if isinstance(event, PostCreated | PostDeleted):
        current, owner = lifecycle_of(event.post_id), lifecycle_owner(event.post_id)
        after = lifecycle_after(
            current, deleted=isinstance(event, PostDeleted), owner=owner, actor=event.user_id
        )
        if after is not None:
            # The author stays the owner of a post they delete; a deletion seen first
            # is owned by its sender.
            kept = owner if current is not None and after == DELETED else event.user_id
            lifecycle_log.put(partition, event.post_id, [after, event.occurred_ms, kept])
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
        return  # a duplicate, a replay or an older event
    marks_log.put(partition, key, change.mark.to_json())
    if change.delta:
        counters.add(action.post_id, INDEX[action.kind], change.delta)
        counters.dirty_posts.add(action.post_id)
        if action.kind == LIKES:
            counters.dirty_likers.setdefault(action.post_id, {})[action.member] = action.present
    mark = change.mark
    if action.kind == COMMENTS:
        text = event.text if isinstance(event, CommentCreated) else ""
        effects.comments.append(
            CommentWrite(
                action.post_id,
                action.member,
                action.present,
                event.occurred_ms,
                mark.version,
                event.user_id,
                text,
            )
        )
    elif action.kind == SAVES:
        effects.saves.append(
            SaveWrite(action.member, action.post_id, action.present, mark.version, mark.since_ms)
        )
    elif action.kind == SHARES:
        effects.shares.append(
            ShareWrite(event.user_id, action.member, action.post_id, action.present)
        )


async def write_effects(effects: Effects) -> None:
    writes = [
        write_comments(connections, effects.comments),
        write_saves(connections, effects.saves),
    ]
    if effects.shares:
        writes.append(engagement_sink.write_shares(connections, effects.shares))
    await asyncio.gather(*writes)


BATCHING = Batching(
    apply=apply_event,
    new_effects=Effects,
    write_effects=write_effects,
    changelogs=(marks_log, lifecycle_log),
    max_events=settings.engagement_batch_max,
    within_s=settings.engagement_batch_within_s,
)


@app.agent(engagement_sources_topic)
async def count_engagement(stream: faust.StreamT) -> None:
    await run_batched(stream, BATCHING)


async def recount() -> None:
    """After a recovery: counts from the recovered marks, everything flushed again."""
    counters.recompute(list(marks_log.raw.items()))
    logger.info("recounted %d posts from %d marks", len(counters.counts), len(marks_log.raw))


engagement_marks.on_recover(recount)


async def flush_once() -> int:
    """Write the changed posts' absolute counts; returns Cassandra writes made."""
    posts, likers = counters.take_dirty()
    plan = plan_flush(posts, likers, lifecycle=lifecycle_of, counts=counters.counts.get)
    counters.put_back((), plan.held_likers)  # flushed once their post is known
    if not plan.live and not plan.deleted and not plan.likers:
        return 0
    try:
        writes = await write_post_counts(
            connections, plan.live, plan.deleted, plan.likers, now_ms=now_ms()
        )
    except Exception:
        counters.put_back(posts, likers)
        raise
    logger.info(
        "flushed counts of %d posts (%d Cassandra writes)",
        len(plan.live) + len(plan.deleted),
        writes,
    )
    return writes


@app.timer(settings.counter_flush_interval_s)
async def flush_post_counts() -> None:
    # A timer that raises crashes the worker; a failed flush is retried next tick.
    try:
        await flush_once()
    except Exception:
        logger.exception("flushing post counts failed; retrying next tick")
