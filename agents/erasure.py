"""Account deletion: everything of a deleted account goes, then its last traces.

users (by user) ──erase_accounts──► account_deleted
    1. the profile tombstoned (Redis ``deleted=1``, the Cassandra users row), so every
       read hides the account at once (``domain.visibility``, ``api.readers.ties``)
    2. the erasure recorded (Cassandra ``erasures``): when to look again, when the
       grace period (``username_grace_s``) ends
    3. its facts read (``sinks.erasure.read_facts``); its uploads removed
       (``sinks.media``); it leaves its audience's trays, seen marks and feeds
    4. one compensating event per fact (``domain.erasure.compensations``), onto the
       topic of the agent that owns it: graph (unfollows both ways, then close friends,
       requests, mutes, blocks), posts (post_deleted: feeds, tails, trending, media),
       stories (story_deleted), engagement (unlike, unsave, share_removed,
       comment_deleted: other people's counts go down exactly), story-views
       (story_view_removed)
sweep_erasures (leader timer) ──► the cascade again once every access token issued
    before the deletion has expired (``access_token_ttl_s``), and again once the grace
    period is over; then, when its events have landed, the last traces (each concern's
    ``erase_*`` in its sink, ``sinks.erasure.erase_account_traces``: own keys and rows,
    credentials, the username's reservation); done once a later look finds nothing.

Writes by a deleted account are erased by the cascade, not refused by the agents: a
check on every hot path (a like, a follow) would cost a read per event, while the
access token a deleted user still holds lives ``access_token_ttl_s`` (15 min) and the
cascade runs again after that. Until then the policy hides whatever such a write adds.

Every compensating event's id derives from the account_deleted event's id (and the
pass), so a replay or a restart after a kill -9 sends the same events, which change
nothing. The Kafka log keeps the original events until the topics' retention (the
broker's 7 days, ``log.retention.hours=168``, counted per closed segment).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import faust

from domain.clock import from_ms, now_ms, to_micros
from domain.erasure import (
    Erasure,
    Holdings,
    Step,
    after_clean,
    after_pass,
    compensations,
    finished,
    needs_another_pass,
    new_erasure,
    pass_base,
    sweep_step,
)
from schemas.events import AccountDeleted, EventBase, make_event
from schemas.topics import topic_for
from sinks import connections
from sinks import engagement as engagement_sink
from sinks import erasure as erasure_sink
from sinks import media as media_sink
from sinks import posts as posts_sink
from sinks import stories as stories_sink
from streams.app import app, settings
from streams.codecs import process_or_dead_letter, valid_events
from streams.topics import (
    engagement_topic,
    graph_topic,
    posts_topic,
    stories_topic,
    story_views_topic,
    users_topic,
)

logger = logging.getLogger(__name__)

# The topic of each compensating event, by registry entity.
_TOPICS: dict[str, faust.TopicT] = {
    "graph": graph_topic,
    "posts": posts_topic,
    "engagement": engagement_topic,
    "stories": stories_topic,
    "story-views": story_views_topic,
}
# How often the sweep looks (shared with the stories sweeper), and how long it lets the
# events of a pass land before it looks again: past a few counter flushes and sweeps.
SWEEP_INTERVAL_S = settings.erasure_sweep_interval_s
SETTLE_MS = int(1000 * max(4 * settings.counter_flush_interval_s, 2 * SWEEP_INTERVAL_S))


async def _send(fields: dict[str, Any]) -> Any:
    event_type = fields.pop("type")
    event = make_event(event_type, **fields)
    spec = topic_for(event)
    return await _TOPICS[spec.entity].send(key=spec.key_for(event).encode(), value=event.to_json())


async def _cascade(user_id: str, *, base_id: str, occurred_at: datetime, micros: int) -> int:
    """Read what the account holds and undo it all; returns the events sent."""
    facts, holdings = await erasure_sink.read_facts(connections, user_id)
    await media_sink.remove_media(connections, sorted(holdings.media))
    await stories_sink.leave_audience(
        connections, user_id, facts.followers, sorted(holdings.stories), sorted(holdings.posts)
    )
    await erasure_sink.remember(connections, user_id, holdings, micros=micros)
    events = compensations(facts, base_id=base_id, occurred_at=occurred_at)
    deliveries = [await _send(fields) for fields in events]
    # Acked by the broker before the deletion's offset is committed (at-least-once).
    await asyncio.gather(*deliveries)
    return len(events)


async def _account_deleted(event: AccountDeleted) -> None:
    micros = to_micros(event.occurred_at)
    erasure = new_erasure(
        event.user_id,
        event.event_id,
        username=event.username,
        deleted_ms=event.occurred_ms,
        grace_s=settings.username_grace_s,
        token_ttl_s=settings.access_token_ttl_s,
    )
    await erasure_sink.write_tombstone(
        connections, event.user_id, event_id=event.event_id, micros=micros
    )
    await erasure_sink.write_erasure(connections, erasure, micros=micros)
    sent = await _cascade(
        event.user_id,
        base_id=pass_base(event.event_id, ""),
        occurred_at=event.occurred_at,
        micros=micros,
    )
    logger.info("account %s deleted: %d compensating events", event.user_id, sent)


async def _handle(event: EventBase) -> None:
    if isinstance(event, AccountDeleted):
        await _account_deleted(event)


@app.agent(users_topic)
async def erase_accounts(stream: faust.StreamT) -> None:
    # The users agent dead-letters what does not decode.
    async for event in valid_events(stream, dead_letters=False):
        await process_or_dead_letter(event, _handle)


# --- the sweep --------------------------------------------------------------------


async def _pass(erasure: Erasure, now: int, *, recheck: bool) -> None:
    """The cascade again, at ``now``: it undoes whatever was written meanwhile."""
    updated = after_pass(erasure, now, recheck=recheck)
    # Recorded first: after a crash the next pass has a new number (its undos are
    # harmless twice), never a skipped one.
    await erasure_sink.write_progress(connections, updated)
    label = "recheck" if recheck else f"pass-{updated.passes}"
    # The tombstone again, newer than any profile change a stale token got through.
    await erasure_sink.write_tombstone(
        connections, erasure.user_id, event_id=erasure.event_id, micros=now * 1000
    )
    sent = await _cascade(
        erasure.user_id,
        base_id=pass_base(erasure.event_id, label),
        occurred_at=from_ms(now),
        micros=now * 1000,
    )
    logger.info("erasure of %s, %s: %d compensating events", erasure.user_id, label, sent)


async def _erase_traces(erasure: Erasure, holdings: Holdings) -> int:
    user = erasure.user_id
    await stories_sink.leave_audience(
        connections, user, (), sorted(holdings.stories), sorted(holdings.posts)
    )
    return sum(
        [
            await media_sink.remove_media(connections, sorted(holdings.media)),
            await posts_sink.erase_posts(connections, user, sorted(holdings.posts)),
            await stories_sink.erase_stories(connections, user, sorted(holdings.stories)),
            await stories_sink.erase_receipts(connections, user),
            await engagement_sink.erase_comments(connections, user),
            await erasure_sink.erase_account_traces(connections, erasure),
        ]
    )


async def _clean(erasure: Erasure, now: int) -> None:
    facts, holdings = await erasure_sink.read_facts(connections, erasure.user_id)
    if needs_another_pass(erasure, facts):
        await _pass(erasure, now, recheck=False)
        return
    found = await _erase_traces(erasure, holdings | erasure.holdings)
    if finished(erasure, found):
        await erasure_sink.drop_erasure(connections, erasure.user_id)
        logger.info("erasure of %s complete", erasure.user_id)
        return
    await erasure_sink.write_progress(connections, after_clean(erasure, now))
    logger.info("erasure of %s: %d last traces removed", erasure.user_id, found)


async def sweep_once(now: int | None = None) -> int:
    """One look at every erasure under way; returns how many it acted on."""
    moment = now_ms() if now is None else now
    acted = 0
    for erasure in await erasure_sink.read_erasures(connections):
        step = sweep_step(erasure, moment, settle_ms=SETTLE_MS)
        if step is Step.WAIT:
            continue
        acted += 1
        if step is Step.CLEAN:
            await _clean(erasure, moment)
        else:
            await _pass(erasure, moment, recheck=step is Step.RECHECK)
    return acted


@app.timer(SWEEP_INTERVAL_S, on_leader=True)
async def sweep_erasures() -> None:
    # A timer that raises crashes the worker: log and try again next tick.
    try:
        await sweep_once()
    except Exception:
        logger.exception("erasure sweep failed; retrying next tick")
