"""Search: users and hashtags indexed as the events arrive, searchable within moments.

users + graph (by user) ──index_users──► search_names: each user's indexed names
    profile_updated / account_deleted → the terms before and after (domain.search)
    any graph event on a user (a follow, an unfollow) → their popularity to refresh
    batch: term members, terms, top-list scores (sinks.search) → changes acked
hashtags (by tag) ──index_hashtags──► search_tag_marks: each (tag, post) live or gone
    batch: each changed tag's live post count (sinks.search) → changes acked
refresh_search (timer) ──► popularity read again a moment later (the graph's count of a
                           follow may land after the follow reached us); after a
                           recovery, every recovered user's scores and tag's count

The graph topic is keyed by the followed user, so it shares the users topic's
partitions: a user's names and the follows that move their popularity meet in one
partition. Batching, durability and acks are ``streams.batching``'s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import faust

from domain.search import NameEntry, count_delta, name_after, tag_mark_after
from schemas.events import AccountDeleted, EventBase, PostCreated, PostDeleted, ProfileUpdated
from schemas.topics import GRAPH, USERS
from sinks import connections
from sinks.search import NameChange, write_tag_index, write_user_index
from streams.app import app
from streams.batching import Batching, run_batched
from streams.forward import acked_elsewhere
from streams.topics import hashtags_topic, join
from tables.search import (
    indexed_terms,
    name_entry,
    names_log,
    search_names,
    search_tag_marks,
    tag_counts,
    tag_mark_key,
    tag_marks_log,
)

logger = logging.getLogger(__name__)

# A batch is sealed this often (or at this size): well inside the second a new name
# has to become searchable in.
BATCH_WITHIN_S = 0.1
BATCH_MAX_EVENTS = 5000
# How soon a follow's popularity is read again, once the graph has projected its count.
REFRESH_INTERVAL_S = 2.0
# Users rescored per Redis round trip by the refresh.
REFRESH_CHUNK = 5000

users_and_graph_topic = join(USERS, GRAPH)


@dataclass
class UserEffects:
    changes: list[NameChange] = field(default_factory=list)
    rescore: dict[str, tuple[str, ...]] = field(default_factory=dict)  # user -> terms


def _entry(event: ProfileUpdated | AccountDeleted) -> NameEntry:
    if isinstance(event, AccountDeleted):
        return NameEntry(event.occurred_ms, deleted=True)
    return NameEntry(event.occurred_ms, event.username, event.display_name)


def apply_user_event(event: EventBase, partition: int, effects: UserEffects) -> None:
    if isinstance(event, ProfileUpdated | AccountDeleted):
        current = name_entry(event.user_id)
        after = name_after(current, _entry(event))
        if after is None:
            return  # a duplicate, a replay, history, or a deleted account
        names_log.put(partition, event.user_id, after.to_json())
        old = current.terms if current else ()
        effects.changes.append(NameChange(event.user_id, old, after.terms))
    elif target := getattr(event, "target_id", None):
        terms = indexed_terms(target)
        if terms:
            effects.rescore[target] = terms


async def write_user_effects(effects: UserEffects) -> None:
    if effects.changes or effects.rescore:
        await write_user_index(connections, effects.changes, effects.rescore)
        refresh.users.update(effects.rescore)


@dataclass
class TagEffects:
    tags: set[str] = field(default_factory=set)


def apply_tag_event(event: EventBase, partition: int, effects: TagEffects) -> None:
    if not isinstance(event, PostCreated | PostDeleted):
        return
    tag = (event.model_extra or {}).get("tag")
    if not isinstance(tag, str) or not tag:
        return
    key = tag_mark_key(tag, event.post_id)
    current = tag_marks_log.raw.get(key)
    after = tag_mark_after(current, created=isinstance(event, PostCreated))
    if after is None:
        return
    tag_marks_log.put(partition, key, after)
    tag_counts.add(tag, count_delta(current, after))
    effects.tags.add(tag)


async def write_tag_effects(effects: TagEffects) -> None:
    if effects.tags:
        # The counts now: absolute, and never older than the batch's own changes.
        await write_tag_index(connections, {tag: tag_counts.get(tag) for tag in effects.tags})


USER_BATCHING = Batching(
    apply=apply_user_event,
    new_effects=UserEffects,
    write_effects=write_user_effects,
    changelogs=(names_log,),
    max_events=BATCH_MAX_EVENTS,
    within_s=BATCH_WITHIN_S,
)
TAG_BATCHING = Batching(
    apply=apply_tag_event,
    new_effects=TagEffects,
    write_effects=write_tag_effects,
    changelogs=(tag_marks_log,),
    max_events=BATCH_MAX_EVENTS,
    within_s=BATCH_WITHIN_S,
)


@app.agent(users_and_graph_topic)
async def index_users(stream: faust.StreamT) -> None:
    # The users and graph agents dead-letter what does not decode.
    await run_batched(acked_elsewhere(stream), USER_BATCHING)


@app.agent(hashtags_topic)
async def index_hashtags(stream: faust.StreamT) -> None:
    # The trending agent dead-letters what does not decode.
    await run_batched(acked_elsewhere(stream), TAG_BATCHING)


@dataclass
class Refresh:
    """What the timer writes again: users whose popularity moved, recovered tags."""

    users: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)

    def take(self) -> tuple[set[str], set[str]]:
        users, tags, self.users, self.tags = self.users, self.tags, set(), set()
        return users, tags


refresh = Refresh()


async def recovered_names() -> None:
    refresh.users.update(names_log.raw)
    logger.info("search: %d users to write again after recovery", len(names_log.raw))


async def recovered_tags() -> None:
    refresh.tags.update(tag_counts.recompute(list(tag_marks_log.raw.items())))
    logger.info("search: recounted %d tags from their marks", len(refresh.tags))


search_names.on_recover(recovered_names)
search_tag_marks.on_recover(recovered_tags)


async def refresh_once() -> None:
    users, tags = refresh.take()
    try:
        # Top-list scores only: the terms are the batches' to write (a rename applied
        # meanwhile must not see its old terms written back). In chunks: after a
        # recovery this is every user of the worker's partitions.
        ids = sorted(users)
        for start in range(0, len(ids), REFRESH_CHUNK):
            chunk = ids[start : start + REFRESH_CHUNK]
            terms = {u: t for u in chunk if (t := indexed_terms(u))}
            await write_user_index(connections, [], terms)
        if tags:
            await write_tag_index(connections, {tag: tag_counts.get(tag) for tag in tags})
    except Exception:
        refresh.users |= users
        refresh.tags |= tags
        raise


@app.timer(REFRESH_INTERVAL_S)
async def refresh_search() -> None:
    # A timer that raises crashes the worker; what failed is retried next tick.
    try:
        await refresh_once()
    except Exception:
        logger.exception("refreshing the search index failed; retrying next tick")
