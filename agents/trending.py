"""Trending hashtags: re-key posts by tag, keep exact per-(tag, user) uses, recount windows.

posts (by author) ──route_hashtags──► hashtags (by tag) ──count_hashtags──► Redis/Cassandra
and ``recount_trending`` (leader timer) turns the per-tag user sets into the per-window
lists. See ``domain.trending`` for why the counts are exact and truly sliding.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
import orjson

from domain.clock import now_ms, to_micros
from domain.trending import add_use, in_horizon, newest_use, parse_hashtags, remove_use
from schemas.events import EventBase, PostCreated, PostDeleted
from sinks import connections
from sinks.trending import recount_trending, write_hashtag_use
from streams.app import app, settings
from streams.codecs import process_or_dead_letter, valid_events
from streams.topics import hashtags_topic, posts_topic
from tables.trending import post_hashtags, tag_user_uses

logger = logging.getLogger(__name__)


async def _forward(event: EventBase, tags: list[str], **extra: Any) -> None:
    # Re-key: one copy per tag, the tag (and what a delete needs) carried as fields.
    body = event.model_dump(mode="json")
    for tag in tags:
        value = orjson.dumps({**body, **extra, "tag": tag})
        await hashtags_topic.send(key=tag.encode(), value=value)


async def _route(event: EventBase) -> None:
    if isinstance(event, PostCreated):
        known = post_hashtags.get(event.post_id)
        if known and known.get("deleted") and known.get("author_id") in (None, event.user_id):
            return  # its author deleted it before its creation reached us: it never counts
        tags = list(parse_hashtags(event.caption))
        if not tags:
            return
        post_hashtags[event.post_id] = {
            "tags": tags,
            "author_id": event.user_id,
            "created_ms": event.occurred_ms,
        }
        await _forward(event, tags, author_id=event.user_id, created_ms=event.occurred_ms)
    elif isinstance(event, PostDeleted):
        known = post_hashtags.get(event.post_id) or {}
        if known.get("author_id", event.user_id) != event.user_id:
            return  # only its author deletes a post
        post_hashtags[event.post_id] = {"author_id": event.user_id, **known, "deleted": True}
        if known.get("tags"):
            # Forwarded again on a replay too: the downstream removal is idempotent.
            await _forward(
                event,
                known["tags"],
                author_id=known["author_id"],
                created_ms=known["created_ms"],
            )


@app.agent(posts_topic)
async def route_hashtags(stream: faust.StreamT) -> None:
    # The posts agent dead-letters what does not decode.
    async for event in valid_events(stream, dead_letters=False):
        await process_or_dead_letter(event, _route)


async def _count(event: EventBase) -> None:
    if not isinstance(event, PostCreated | PostDeleted):
        return
    extra = event.model_extra or {}
    tag, author_id, created_ms = extra["tag"], extra["author_id"], int(extra["created_ms"])
    now = now_ms()
    key = (tag, author_id)
    uses = tag_user_uses.get(key) or {}
    deleted = isinstance(event, PostDeleted)
    if deleted:
        updated = remove_use(uses, event.post_id, now)
    elif in_horizon(created_ms, now):
        updated = add_use(uses, event.post_id, created_ms, now)
    else:
        updated = uses
    if updated != uses:
        tag_user_uses[key] = updated
    await write_hashtag_use(
        connections,
        tag=tag,
        author_id=author_id,
        post_id=event.post_id,
        created_ms=created_ms,
        newest_ms=newest_use(updated),
        event_micros=to_micros(event.occurred_at),
        deleted=deleted,
    )


@app.agent(hashtags_topic)
async def count_hashtags(stream: faust.StreamT) -> None:
    async for event in valid_events(stream):
        await process_or_dead_letter(event, _count)


@app.timer(settings.trending_flush_interval_s, on_leader=True)
async def flush_trending() -> None:
    # A timer that raises crashes the worker: log and try again next tick.
    try:
        await recount_trending(connections, now_ms())
    except Exception:
        logger.exception("recounting trending hashtags failed; retrying next tick")
