"""Trending hashtags: re-key posts by tag, keep exact per-(tag, user) uses, recount windows.

posts (by author) ──route_hashtags──► hashtags (by tag) ──count_hashtags──► Redis/Cassandra
    route: the post's tags (domain.trending) → post_hashtags, one copy per tag staged
    batch: copies on the hashtags topic (every ack awaited) → table changes → events acked
    count: the (tag, user)'s live uses (domain.trending) → tag_user_uses, the use staged
    batch: tag page rows and (tag, user) members written → table changes → events acked
flush_trending (leader timer) ──► the per-tag user sets counted into the per-window lists

See ``domain.trending`` for why the counts are exact and truly sliding. Batching,
durability and acks are ``streams.batching``'s; the re-keyed sends are
``streams.forward``'s. A replay sends its copies again and writes its uses again, and
both are idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import faust
import orjson

from clients.kafka import producer_config
from domain.clock import now_ms, to_micros
from domain.trending import copy_fields, count_use, newest_use, route_created, route_deleted
from schemas.events import EventBase, PostCreated, PostDeleted
from schemas.topics import HASHTAGS
from sinks import connections
from sinks.trending import HashtagWrite, recount_trending, write_hashtag_uses
from streams.app import app, settings
from streams.batching import Batching, run_batched
from streams.codecs import dead_letter
from streams.forward import Copy, Forwarder, acked_elsewhere
from streams.retry import until_done
from streams.topics import hashtags_topic, posts_topic
from tables.trending import post_tags_log, post_tags_of, uses_log, uses_of

logger = logging.getLogger(__name__)

hashtag_copies = Forwarder(HASHTAGS.name(settings.namespace), producer_config(settings))


def route_event(event: EventBase, partition: int, copies: list[Copy]) -> None:
    """One post event: its record in ``post_hashtags``, one copy per tag staged."""
    if isinstance(event, PostCreated):
        routed = route_created(
            post_tags_of(event.post_id),
            author_id=event.user_id,
            caption=event.caption,
            created_ms=event.occurred_ms,
        )
    elif isinstance(event, PostDeleted):
        routed = route_deleted(post_tags_of(event.post_id), author_id=event.user_id)
    else:
        return
    if routed is None:
        return
    post_tags_log.put(partition, event.post_id, routed.record)
    if routed.tags:
        # Re-key: one copy per tag, the tag (and what a delete needs) carried as fields.
        body = event.model_dump(mode="json")
        body.update(author_id=routed.author_id, created_ms=routed.created_ms)
        for tag in routed.tags:
            copies.append((tag.encode(), orjson.dumps({**body, "tag": tag})))


async def forward_copies(copies: list[Copy]) -> None:
    await hashtag_copies.send(copies)


ROUTING = Batching(
    apply=route_event,
    new_effects=list,
    write_effects=forward_copies,
    changelogs=(post_tags_log,),
    max_events=settings.trending_batch_max,
    within_s=settings.trending_batch_within_s,
)


@app.agent(posts_topic)
async def route_hashtags(stream: faust.StreamT) -> None:
    # The posts agent dead-letters what does not decode.
    await run_batched(acked_elsewhere(stream), ROUTING)


@dataclass
class Uses:
    """A batch's hashtag uses for the sinks, and the copies that were not copies."""

    writes: list[HashtagWrite] = field(default_factory=list)
    invalid: list[tuple[Any, str]] = field(default_factory=list)  # (message, reason)


def count_event(event: EventBase, partition: int, uses: Uses) -> None:
    """One copy: the (tag, user)'s live uses after it, the use staged for the sinks."""
    if not isinstance(event, PostCreated | PostDeleted):
        return
    try:
        tag, author_id, created_ms = copy_fields(event.model_extra or {})
    except ValueError as exc:
        current = faust.current_event()
        if current is None:
            logger.error("dropped a malformed hashtag copy %s: %s", event.event_id, exc)
        else:
            uses.invalid.append((current.message, str(exc)))
        return
    before = uses_of(tag, author_id)
    deleted = isinstance(event, PostDeleted)
    after = count_use(
        before, post_id=event.post_id, created_ms=created_ms, deleted=deleted, now_ms=now_ms()
    )
    if after != before:
        uses_log.put(partition, (tag, author_id), after)
    uses.writes.append(
        HashtagWrite(
            tag=tag,
            author_id=author_id,
            post_id=event.post_id,
            created_ms=created_ms,
            newest_ms=newest_use(after),
            event_micros=to_micros(event.occurred_at),
            deleted=deleted,
        )
    )


async def write_uses(uses: Uses) -> None:
    await write_hashtag_uses(connections, uses.writes)
    for message, reason in uses.invalid:
        await until_done("dead-lettering", dead_letter, message, reason, "process")


COUNTING = Batching(
    apply=count_event,
    new_effects=Uses,
    write_effects=write_uses,
    changelogs=(uses_log,),
    max_events=settings.trending_batch_max,
    within_s=settings.trending_batch_within_s,
)


@app.agent(hashtags_topic)
async def count_hashtags(stream: faust.StreamT) -> None:
    await run_batched(stream, COUNTING)


@app.timer(settings.trending_flush_interval_s, on_leader=True)
async def flush_trending() -> None:
    # A timer that raises crashes the worker: log and try again next tick.
    try:
        await recount_trending(connections, now_ms())
    except Exception:
        logger.exception("recounting trending hashtags failed; retrying next tick")
