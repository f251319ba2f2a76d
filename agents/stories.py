"""Stories: trays, deletion, the expiry sweeper and view receipts.

stories (by author) ──fan_out_stories──► the author's stories (table) now;
    batch: rows, cards and author lists written → the batch's authors' audiences read
           together (sinks.graph.read_audiences) → every tray change in one pipelined
           call (new stories pushed, removals rescored, in event order) → removed
           stories' media removed → table changes acked by the broker → events acked
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
from dataclasses import dataclass, field

import faust

from domain.clock import now_ms, to_micros
from domain.fanout import Audience, story_recipients
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
from sinks import story_trays as trays
from sinks.graph import read_audiences
from sinks.stories import SeenMark, StoryRemoval, StoryWrite
from sinks.story_trays import TrayPush, TrayRescore
from streams.app import app, settings
from streams.batching import Batching, run_batched
from streams.topics import stories_topic, story_views_topic
from tables.stories import (
    author_stories_log,
    first_view_ms,
    first_views_log,
    story_first_views,
    view_count,
    view_counts_log,
)

logger = logging.getLogger(__name__)

TrayChange = TrayPush | TrayRescore
# Story events per batch, or fewer after this long (seconds): each new story's fan-out
# is a script call per thousand trays, so a batch of 2,000 stays a few pipelines.
STORIES_BATCH_MAX = 2_000
STORIES_BATCH_WITHIN_S = 0.05

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


@dataclass(frozen=True)
class Removed:
    """A story gone (deleted or expired): the author's stories left, and its media."""

    removal: StoryRemoval
    remaining: list[LiveStory]
    media_id: str


@dataclass
class Effects:
    """A batch's story changes in event order (new live stories and removals)."""

    steps: list[StoryCreated | Removed] = field(default_factory=list)


def _created(event: StoryCreated, partition: int, effects: Effects) -> None:
    rows = author_stories_log.raw.get(event.user_id)
    stories, media = sink.rows_to_stories(rows), media_of(rows)
    story = LiveStory(event.story_id, event.occurred_ms, event.close_friends_only)
    if is_live(story.created_ms, now_ms()):  # an expired one is never shown; swept next tick
        effects.steps.append(event)
    updated = add_story(stories, story)
    if updated != stories:
        rows = _rows(updated, {**media, story.story_id: event.media_id})
        author_stories_log.put(partition, event.user_id, rows)


def _removed(event: StoryDeleted | StoryExpired, partition: int, effects: Effects) -> None:
    author = event.user_id
    rows = author_stories_log.raw.get(author)
    stories, media = sink.rows_to_stories(rows), media_of(rows)
    # Out of the table now (or never in it): the sweeper no longer sees it.
    _expiry_sent.discard(event.story_id)
    known = next((s for s in stories if s.story_id == event.story_id), None)
    if known is None:
        return  # already gone (a duplicate), or not this author's story: nothing to undo
    remaining = remove_story(stories, event.story_id)
    removal = StoryRemoval(author, known, to_micros(event.occurred_at))
    effects.steps.append(Removed(removal, remaining, media.get(event.story_id, "")))
    author_stories_log.put(partition, author, _rows(remaining, media))


def apply_story(event: EventBase, partition: int, effects: Effects) -> None:
    """One story event, in the author's order: the table now, its effects staged."""
    if isinstance(event, StoryCreated):
        _created(event, partition, effects)
    elif isinstance(event, StoryDeleted | StoryExpired):
        _removed(event, partition, effects)


def _tray_change(step: StoryCreated | Removed, audience: Audience, now: int) -> TrayChange:
    if isinstance(step, StoryCreated):
        recipients = story_recipients(audience, close_friends_only=step.close_friends_only)
        return TrayPush(step.user_id, step.occurred_ms, recipients)
    scores = tray_scores(step.remaining, audience, now_ms=now)
    return TrayRescore(step.removal.author_id, scores)


async def write_stories(effects: Effects) -> None:
    """Cards, lists and rows first, then the audiences are read (a follow adds the
    follower before it reads the author's stories: whichever comes second sees the
    other), then every tray change in one pipelined call, then the removed media."""
    steps = effects.steps
    if not steps:
        return
    now = now_ms()
    changes = [s.removal if isinstance(s, Removed) else StoryWrite(s) for s in steps]
    await sink.write_stories(connections, changes, now)
    audiences = await read_audiences(connections, [_author(s) for s in steps])
    changed = [_tray_change(s, audiences[_author(s)], now) for s in steps]
    await trays.write_trays(connections, changed)
    gone: dict[str, list[str]] = {}
    for step in steps:
        if isinstance(step, Removed) and step.media_id:
            gone.setdefault(step.removal.author_id, []).append(step.media_id)
    for author, media_ids in gone.items():
        # The story is gone from every view: its upload goes (unless another shows it).
        await media_sink.remove_media(connections, media_ids, owner_id=author)


def _author(step: StoryCreated | Removed) -> str:
    return step.user_id if isinstance(step, StoryCreated) else step.removal.author_id


STORIES = Batching(
    apply=apply_story,
    new_effects=Effects,
    write_effects=write_stories,
    changelogs=(author_stories_log,),
    max_events=STORIES_BATCH_MAX,
    within_s=STORIES_BATCH_WITHIN_S,
)


@app.agent(stories_topic)
async def fan_out_stories(stream: faust.StreamT) -> None:
    await run_batched(stream, STORIES)


async def sweep_stories() -> int:
    """Send story_expired for every story of this worker's partitions past 24 h."""
    now = now_ms()
    sent = 0
    for author, rows in list(author_stories_log.raw.items()):
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
