"""Stories: trays, deletion, the expiry sweeper and view receipts.

stories (by author) ──fan_out_stories──► story cards, author lists; the followers'
                                         trays the author's audience decides
sweep_stories (timer) ──story_expired──► stories (the agent then removes the story)
story-views (by story) ──record_story_views──► first views and counts (tables) now;
    batch: seen marks written → table changes acked by the broker → events acked
flush_story_views (timer) ──► receipts and exact counts, every counter interval; a
                              withdrawn receipt (story_view_removed) leaves the list
                              and the count
A follow or a new close friend puts the author's live stories in the tray at once
(``agents.graph``). Expiry is also enforced by every reader from ``occurred_at``; the
sweeper only cleans up. Once a story is gone (deleted or expired) its media goes too:
the upload's original, renditions, hash and row (``sinks.media``). The table row of a
story keeps its media id for that (a fourth element beside ``LiveStory.to_row``).
"""

from __future__ import annotations

import logging
import uuid

import faust

from domain.clock import now_ms, to_micros
from domain.fanout import story_recipients
from domain.stories import (
    LiveStory,
    add_story,
    expired_stories,
    is_live,
    remove_story,
    tray_scores,
    view_counts,
)
from schemas.events import (
    EventBase,
    StoryCreated,
    StoryDeleted,
    StoryExpired,
    StoryViewed,
    StoryViewRemoved,
    make_event,
)
from sinks import connections
from sinks import media as media_sink
from sinks import stories as sink
from sinks.graph import read_audience
from sinks.stories import SeenMark
from streams.app import app, settings
from streams.batching import Batching, run_batched
from streams.codecs import process_or_dead_letter, valid_events
from streams.topics import stories_topic, story_views_topic
from tables.stories import (
    author_stories,
    first_view_ms,
    first_views_log,
    story_first_views,
    view_count,
    view_counts_log,
)

logger = logging.getLogger(__name__)

# Stories whose story_expired this process already sent (until the agent removes them),
# so a slow round trip through Kafka does not send a second one.
_expiry_sent: set[str] = set()
# Receipts waiting for the next flush: story -> viewer -> first view ms (None: the
# receipt was withdrawn), and counts.
_dirty_viewers: dict[str, dict[str, int | None]] = {}
_dirty_counts: set[str] = set()


def expiry_event_id(story_id: str) -> str:
    """Deterministic, so a duplicate story_expired (after a crash) is recognisable."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"story-expired/{story_id}").hex


def media_of(rows: list[list[object]] | None) -> dict[str, str]:
    """story_id -> media id, from the author's table rows (older rows have none)."""
    return {str(r[0]): str(r[3]) for r in rows or () if len(r) > 3 and r[3]}


def _rows(stories: list[LiveStory], media: dict[str, str]) -> list[list[object]]:
    return [[*s.to_row(), media.get(s.story_id, "")] for s in stories]


async def _created(event: StoryCreated, stories: list[LiveStory], media: dict[str, str]) -> None:
    # Store and trays first, table last: a crash in between replays the whole step.
    story = LiveStory(event.story_id, event.occurred_ms, event.close_friends_only)
    now = now_ms()
    if is_live(story.created_ms, now):  # an expired one is never shown; swept next tick
        await sink.write_story(connections, event, now)
        audience = await read_audience(connections, event.user_id)
        recipients = story_recipients(audience, close_friends_only=event.close_friends_only)
        await sink.push_story(
            connections, author_id=event.user_id, created_ms=story.created_ms, recipients=recipients
        )
    updated = add_story(stories, story)
    if updated != stories:
        author_stories[event.user_id] = _rows(updated, {**media, story.story_id: event.media_id})


async def _removed(
    event: StoryDeleted | StoryExpired, stories: list[LiveStory], media: dict[str, str]
) -> None:
    author = event.user_id
    known = next((s for s in stories if s.story_id == event.story_id), None)
    if known is None:
        # Already gone (a duplicate), or not this author's story: nothing to undo.
        _expiry_sent.discard(event.story_id)
        return
    remaining = remove_story(stories, event.story_id)
    await sink.remove_story(
        connections, author_id=author, story=known, event_micros=to_micros(event.occurred_at)
    )
    audience = await read_audience(connections, author)
    await sink.rescore_trays(
        connections, author_id=author, scores=tray_scores(remaining, audience, now_ms=now_ms())
    )
    if media.get(event.story_id):  # the story is gone from every view: its upload goes
        await media_sink.remove_media(connections, [media[event.story_id]], owner_id=author)
    author_stories[author] = _rows(remaining, media)
    _expiry_sent.discard(event.story_id)


async def _handle_story(event: EventBase) -> None:
    rows = author_stories.get(event.user_id)
    stories, media = sink.rows_to_stories(rows), media_of(rows)
    if isinstance(event, StoryCreated):
        await _created(event, stories, media)
    elif isinstance(event, StoryDeleted | StoryExpired):
        await _removed(event, stories, media)


@app.agent(stories_topic)
async def fan_out_stories(stream: faust.StreamT) -> None:
    async for event in valid_events(stream):
        await process_or_dead_letter(event, _handle_story)


async def sweep_stories() -> int:
    """Send story_expired for every story of this worker's partitions past 24 h."""
    now = now_ms()
    sent = 0
    for author, rows in list(author_stories.items()):
        for story in expired_stories(sink.rows_to_stories(rows), now):
            if story.story_id in _expiry_sent:
                continue
            expired = make_event(
                "story_expired",
                event_id=expiry_event_id(story.story_id),
                user_id=author,
                story_id=story.story_id,
            )
            await stories_topic.send(key=author.encode(), value=expired.to_json())
            _expiry_sent.add(story.story_id)
            sent += 1
    return sent


@app.timer(settings.story_sweep_interval_s)
async def sweep_expired_stories() -> None:
    # A timer that raises crashes the worker: log and try again next tick.
    try:
        sent = await sweep_stories()
        if sent:
            logger.info("expired %d stories", sent)
    except Exception:
        logger.exception("story sweep failed; retrying next tick")


def _withdraw(event: StoryViewRemoved, partition: int) -> None:
    """A receipt out of the table and the count; its rows go at the next flush (also
    when the table had none: a withdrawal replayed after a crash still clears them)."""
    if first_view_ms(event.story_id, event.user_id) is not None:
        first_views_log.put(partition, (event.story_id, event.user_id), None)
        view_counts_log.put(partition, event.story_id, max(0, view_count(event.story_id) - 1))
        _dirty_counts.add(event.story_id)
    _dirty_viewers.setdefault(event.story_id, {})[event.user_id] = None


def view_event(event: EventBase, partition: int, seen: list[SeenMark]) -> None:
    """One view: a first view becomes a receipt and counts; every view moves the seen mark."""
    if isinstance(event, StoryViewRemoved):
        _withdraw(event, partition)
        return
    if not isinstance(event, StoryViewed) or event.user_id == event.owner_id:
        return  # authors watching their own story are not receipts
    if first_view_ms(event.story_id, event.user_id) is None:
        first_views_log.put(partition, (event.story_id, event.user_id), event.occurred_ms)
        view_counts_log.put(partition, event.story_id, view_count(event.story_id) + 1)
        _dirty_viewers.setdefault(event.story_id, {})[event.user_id] = event.occurred_ms
        _dirty_counts.add(event.story_id)
    seen.append(SeenMark(event.user_id, event.story_id, event.owner_id))


async def write_seen(seen: list[SeenMark]) -> None:
    if seen:
        await sink.write_seen_marks(connections, seen)


VIEWS = Batching(
    apply=view_event,
    new_effects=list,
    write_effects=write_seen,
    changelogs=(first_views_log, view_counts_log),
    max_events=settings.story_views_batch_max,
    within_s=settings.story_views_batch_within_s,
)


@app.agent(story_views_topic)
async def record_story_views(stream: faust.StreamT) -> None:
    await run_batched(stream, VIEWS)


async def flush_receipts() -> None:
    """Write pending receipts as absolute values; keep them pending if a store fails."""
    global _dirty_viewers
    if not _dirty_viewers and not _dirty_counts:
        return
    viewers, _dirty_viewers = _dirty_viewers, {}
    story_ids = set(_dirty_counts)
    _dirty_counts.clear()
    counts = {s: view_count(s) for s in story_ids}
    try:
        await sink.write_receipts(connections, viewers, counts)
    except Exception:
        for story_id, first in viewers.items():
            _dirty_viewers.setdefault(story_id, {}).update(first)
        _dirty_counts.update(story_ids)
        raise


@app.timer(settings.counter_flush_interval_s)
async def flush_story_views() -> None:
    try:
        await flush_receipts()
    except Exception:
        logger.exception("flushing story receipts failed; retrying next tick")


@story_first_views.on_recover
async def _reflush_after_recovery() -> None:
    """Counts from the recovered first views, everything re-flushed (idempotent).

    The two tables' changelogs are written one after the other, so a crash between them
    can leave a batch's first views durable and its counts not; the first views are the
    truth, and a count that disagrees is corrected (and staged for the next batch)."""
    first_views = list(first_views_log.raw.items())
    partitions = story_first_views.data._key_partition
    counts = view_counts(first_views)
    for (story_id, viewer), ms in first_views:
        _dirty_viewers.setdefault(story_id, {})[viewer] = None if ms is None else int(ms)
        _dirty_counts.add(story_id)
        if view_count(story_id) != counts.get(story_id, 0):
            partition = partitions.get((story_id, viewer), 0)
            view_counts_log.put(partition, story_id, counts.get(story_id, 0))
    logger.info("recounted views of %d stories from %d receipts", len(counts), len(first_views))
