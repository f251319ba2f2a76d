"""Stories: trays, deletion, the expiry sweeper and view receipts.

stories (by author) ──fan_out_stories──► story cards, author lists, followers' trays
sweep_stories (timer) ──story_expired──► stories (the agent then removes the story)
graph (by friend) ──index_close_friends──► who counts each user as a close friend;
                                          a new follower's tray gets live stories
story-views (by story) ──record_story_views──► seen marks now; receipts and counts
                                               flushed every counter interval
Expiry is also enforced by every reader from ``occurred_at``; the sweeper only cleans up.
"""

from __future__ import annotations

import logging
import time
import uuid

import faust

from domain.stories import LiveStory, add_story, expired_stories, is_live, remove_story
from schemas.events import (
    CloseFriendAdded,
    CloseFriendRemoved,
    EventBase,
    Follow,
    StoryCreated,
    StoryDeleted,
    StoryExpired,
    StoryViewed,
    make_event,
)
from sinks import connections
from sinks import stories as sink
from streams.app import app, settings
from streams.codecs import process_or_dead_letter, valid_events
from streams.topics import graph_topic, stories_topic, story_views_topic
from tables.stories import author_stories, story_first_views, story_view_counts

logger = logging.getLogger(__name__)

# Stories whose story_expired this process already sent (until the agent removes them),
# so a slow round trip through Kafka does not send a second one.
_expiry_sent: set[str] = set()
# Receipts waiting for the next flush: story -> viewer -> first view ms, and counts.
_dirty_viewers: dict[str, dict[str, int]] = {}
_dirty_counts: set[str] = set()


def _now_ms() -> int:
    return int(time.time() * 1000)


def expiry_event_id(story_id: str) -> str:
    """Deterministic, so a duplicate story_expired (after a crash) is recognisable."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"story-expired/{story_id}").hex


async def _handle_story(event: EventBase) -> None:
    author = event.user_id
    stories = sink.rows_to_stories(author_stories.get(author))
    now_ms = _now_ms()
    if isinstance(event, StoryCreated):
        # Views first, table last: a crash in between replays the whole step.
        story = LiveStory(event.story_id, event.occurred_ms, event.close_friends_only)
        if is_live(story.created_ms, now_ms):
            await sink.write_story(connections, event, now_ms)
        # An already expired story is never shown; the sweeper expires it next tick.
        updated = add_story(stories, story)
        if updated != stories:
            author_stories[author] = [s.to_row() for s in updated]
    elif isinstance(event, StoryDeleted | StoryExpired):
        known = next((s for s in stories if s.story_id == event.story_id), None)
        if known is None:
            # Already gone (a duplicate), or not this author's story: nothing to undo.
            _expiry_sent.discard(event.story_id)
            return
        remaining = remove_story(stories, event.story_id)
        await sink.remove_story(
            connections,
            author_id=author,
            story=known,
            remaining=remaining,
            event_micros=int(event.occurred_at.timestamp() * 1_000_000),
            now_ms=now_ms,
        )
        author_stories[author] = [s.to_row() for s in remaining]
        _expiry_sent.discard(event.story_id)


@app.agent(stories_topic)
async def fan_out_stories(stream: faust.StreamT) -> None:
    async for event in valid_events(stream):
        await process_or_dead_letter(event, _handle_story)


async def sweep_stories() -> int:
    """Send story_expired for every story of this worker's partitions past 24 h."""
    now_ms = _now_ms()
    sent = 0
    for author, rows in list(author_stories.items()):
        for story in expired_stories(sink.rows_to_stories(rows), now_ms):
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


async def _index_close_friend(event: EventBase) -> None:
    if isinstance(event, Follow):
        # Stories fan out when created; someone who follows later sees the live ones now.
        # Blocks and unfollows are applied by every tray read.
        await sink.add_author_to_tray(
            connections, viewer_id=event.user_id, author_id=event.target_id, now_ms=_now_ms()
        )
    elif isinstance(event, CloseFriendAdded | CloseFriendRemoved):
        if isinstance(event, CloseFriendAdded):
            # A new close friend sees the author's close-friends stories as well.
            await sink.add_author_to_tray(
                connections, viewer_id=event.target_id, author_id=event.user_id, now_ms=_now_ms()
            )
        await sink.write_close_friend_of(
            connections,
            author_id=event.user_id,
            friend_id=event.target_id,
            present=isinstance(event, CloseFriendAdded),
        )


@app.agent(graph_topic)
async def index_close_friends(stream: faust.StreamT) -> None:
    # The graph topic is keyed by the friend: every change for one friend is in order.
    async for event in valid_events(stream):
        await process_or_dead_letter(event, _index_close_friend)


async def _handle_view(event: EventBase) -> None:
    if not isinstance(event, StoryViewed) or event.user_id == event.owner_id:
        return  # authors watching their own story are not receipts
    key = (event.story_id, event.user_id)
    if story_first_views.get(key) is None:
        story_first_views[key] = event.occurred_ms
        story_view_counts[event.story_id] += 1
        _dirty_viewers.setdefault(event.story_id, {})[event.user_id] = event.occurred_ms
        _dirty_counts.add(event.story_id)
    await sink.write_seen(
        connections, viewer_id=event.user_id, story_id=event.story_id, author_id=event.owner_id
    )


@app.agent(story_views_topic)
async def record_story_views(stream: faust.StreamT) -> None:
    async for event in valid_events(stream):
        await process_or_dead_letter(event, _handle_view)


async def flush_receipts() -> None:
    """Write pending receipts as absolute values; keep them pending if a store fails."""
    global _dirty_viewers
    if not _dirty_viewers and not _dirty_counts:
        return
    viewers, _dirty_viewers = _dirty_viewers, {}
    story_ids = set(_dirty_counts)
    _dirty_counts.clear()
    counts = {s: story_view_counts[s] for s in story_ids}
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
    # A new owner of these partitions re-flushes everything it recovered (idempotent).
    for (story_id, viewer), ms in list(story_first_views.items()):
        _dirty_viewers.setdefault(story_id, {})[viewer] = ms
        _dirty_counts.add(story_id)
