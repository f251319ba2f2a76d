"""fan_out_stories, record_story_views and their timers without a broker: trays, removals,
the expiry sweeper, idempotent view receipts and batched, in-order story effects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agents import stories as agent_module
from agents.stories import (
    expiry_event_id,
    fan_out_stories,
    flush_receipts,
    record_story_views,
    sweep_stories,
)
from domain.stories import LiveStory
from schemas.events import EventBase
from sinks.stories import SeenMark
from tables.stories import (
    author_stories,
    first_views_log,
    story_first_views,
    story_view_counts,
    view_counts_log,
)
from tests.factories import event_factory
from tests.unit.test_agents.conftest import until
from tests.unit.test_agents.test_erasure import erasure_fakes  # noqa: F401 (autouse)


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def story_created(
    story_id: str, *, at: datetime | None = None, close: bool = False, media: str = "m1"
) -> EventBase:
    return event_factory(
        "story_created",
        user_id="a1",
        story_id=story_id,
        media_id=media,
        close_friends_only=close,
        occurred_at=at or ago(minutes=5),
    )


def story_removed(kind: str, story_id: str) -> EventBase:
    return event_factory(kind, user_id="a1", story_id=story_id)


def story_viewed(viewer: str, story_id: str = "s1", *, owner: str = "a1") -> EventBase:
    return event_factory("story_viewed", user_id=viewer, story_id=story_id, owner_id=owner)


@pytest.fixture
async def stories(harness: Any) -> AsyncIterator[Any]:
    harness.sinks.followers["a1"] = ["f1", "f2", "f3"]
    async with fan_out_stories.test_context() as agent:

        async def put(event: EventBase) -> EventBase:
            """One story event (keyed by author); returns once its batch is acked."""
            put = await harness.feed(agent, event, key=event.user_id, handled=False)
            await until(lambda: put.message.acked, what="the batch's commit")
            return event

        yield put


@pytest.fixture
async def views(harness: Any) -> AsyncIterator[Any]:
    async with record_story_views.test_context() as agent:

        async def put(event: EventBase) -> EventBase:
            """One view, applied at once; returns once its batch is committed and acked."""
            key = event.story_id  # type: ignore[attr-defined]
            put = await harness.feed(agent, event, key=key, handled=False)
            await until(lambda: put.message.acked, what="the batch's commit")
            return event

        yield put


def seen_marks(sinks: Any) -> list[SeenMark]:
    return [mark for (marks,) in sinks.args("write_seen_marks") for mark in marks]


def rows(author: str) -> list[LiveStory]:
    return [LiveStory.from_row(r) for r in author_stories[author]]


async def test_story_created_stored_and_pushed_to_reachable_followers(
    stories: Any, sinks: Any
) -> None:
    sinks.blocks.add(frozenset(("f3", "a1")))
    created = await stories(story_created("s1"))
    assert [args[0].story_id for args in sinks.args("write_story")] == ["s1"]
    assert sinks.named("push_story") == [
        {"author_id": "a1", "created_ms": created.occurred_ms, "recipients": ("f1", "f2")}
    ]
    assert rows("a1") == [LiveStory("s1", created.occurred_ms, False)]


async def test_story_close_friends_only_reaches_close_friends_only(
    stories: Any, sinks: Any
) -> None:
    sinks.close_friends.add(("a1", "f2"))
    await stories(story_created("s1", close=True))
    assert sinks.named("push_story")[0]["recipients"] == ("f2",)


async def test_story_created_already_expired_kept_for_sweeper_not_shown(
    stories: Any, sinks: Any
) -> None:
    await stories(story_created("s1", at=ago(hours=25)))
    assert sinks.writes() == []
    assert [s.story_id for s in rows("a1")] == ["s1"]


async def test_story_deleted_rescores_trays_with_newest_left(stories: Any, sinks: Any) -> None:
    sinks.close_friends.add(("a1", "f1"))
    first = await stories(story_created("s1", at=ago(minutes=30)))
    close = await stories(story_created("s2", at=ago(minutes=20), close=True))
    await stories(story_created("s3", at=ago(minutes=10)))
    deleted = await stories(story_removed("story_deleted", "s3"))
    (removal,) = sinks.named("remove_story")
    assert removal["story"].story_id == "s3"
    assert removal["event_micros"] == int(deleted.occurred_at.timestamp() * 1_000_000)
    assert sinks.named("rescore_trays") == [
        {
            "author_id": "a1",
            # f1 is a close friend: scored by the close-friends story; the others by s1.
            "scores": {"f1": close.occurred_ms, "f2": first.occurred_ms, "f3": first.occurred_ms},
        }
    ]
    assert [s.story_id for s in rows("a1")] == ["s1", "s2"]


async def test_story_deleted_last_takes_author_out_of_trays(stories: Any, sinks: Any) -> None:
    await stories(story_created("s1"))
    await stories(story_removed("story_deleted", "s1"))
    assert sinks.named("rescore_trays")[0]["scores"] == {"f1": None, "f2": None, "f3": None}
    assert author_stories["a1"] == []


async def test_story_expired_removes_story(stories: Any, sinks: Any) -> None:
    await stories(story_created("s1", at=ago(hours=25)))
    await stories(story_removed("story_expired", "s1"))
    assert [r["story"].story_id for r in sinks.named("remove_story")] == ["s1"]
    assert author_stories["a1"] == []


async def test_story_expired_duplicate_changes_nothing(stories: Any, sinks: Any) -> None:
    await stories(story_created("s1", at=ago(hours=25)))
    expired = story_removed("story_expired", "s1")
    await stories(expired)
    await stories(expired)
    assert len(sinks.named("remove_story")) == 1
    assert len(sinks.named("rescore_trays")) == 1


async def test_story_removed_of_unknown_story_changes_nothing(stories: Any, sinks: Any) -> None:
    await stories(story_removed("story_deleted", "nope"))
    assert sinks.writes() == []


async def test_sweep_expired_story_sends_story_expired_once(stories: Any, sent: Any) -> None:
    await stories(story_created("old", at=ago(hours=25)))
    await stories(story_created("new"))
    assert await sweep_stories() == 1
    assert await sweep_stories() == 0  # already sent, not yet removed
    (message,) = sent.to("stories")
    assert message.key == b"a1"
    expired = message.event
    assert expired.type == "story_expired"
    assert expired.event_id == expiry_event_id("old")
    assert expired.story_id == "old"  # type: ignore[attr-defined]


async def test_story_view_second_view_counts_once(views: Any, sinks: Any, harness: Any) -> None:
    first = await views(story_viewed("v1"))
    await views(story_viewed("v1"))
    assert story_view_counts["s1"] == 1
    assert story_first_views[("s1", "v1")] == first.occurred_ms
    seen = SeenMark("v1", "s1", "a1")
    assert seen_marks(sinks) == [seen, seen]  # the seen mark moves every time
    records = harness.changelogs.records("story_first_views")
    assert [(key, value) for _, key, value in records] == [(("s1", "v1"), first.occurred_ms)]


async def test_story_view_replayed_in_one_batch_counts_once(harness: Any, sinks: Any) -> None:
    first = story_viewed("v1")
    async with record_story_views.test_context() as agent:
        puts = [
            await harness.feed(agent, e, key="s1", handled=False)
            for e in (first, first, story_viewed("v2"), first)
        ]
        await until(lambda: all(p.message.acked for p in puts), what="the batch's commit")
    assert story_view_counts["s1"] == 2
    assert [value for _, _, value in harness.changelogs.records("story_view_counts")] == [2]
    assert len(seen_marks(sinks)) == 4


async def test_story_view_acked_only_after_marks_and_changelog(harness: Any, sinks: Any) -> None:
    harness.changelogs.gate = asyncio.Event()
    async with record_story_views.test_context() as agent:
        put = await harness.feed(agent, story_viewed("v1"), key="s1", handled=False)
        await until(lambda: seen_marks(sinks), what="the seen marks")
        await asyncio.sleep(0.05)
        assert not put.message.acked  # its table change is not durable yet
        harness.changelogs.gate.set()
        await until(lambda: put.message.acked, what="the batch's commit")


async def test_story_view_by_owner_is_not_a_receipt(views: Any, sinks: Any) -> None:
    await views(story_viewed("a1", owner="a1"))
    assert story_view_counts["s1"] == 0
    assert sinks.writes() == []


async def test_flush_receipts_writes_first_views_and_exact_counts_once(
    views: Any, sinks: Any
) -> None:
    one = await views(story_viewed("v1"))
    two = await views(story_viewed("v2"))
    await views(story_viewed("v1"))
    await flush_receipts()
    await flush_receipts()  # nothing new: nothing written
    assert sinks.args("write_receipts") == [
        ({"s1": {"v1": one.occurred_ms, "v2": two.occurred_ms}}, {"s1": 2})
    ]


async def test_flush_receipts_failed_write_keeps_receipts_pending(views: Any, sinks: Any) -> None:
    await views(story_viewed("v1"))
    sinks.failures["write_receipts"] = ConnectionError("redis down")
    with pytest.raises(ConnectionError):
        await flush_receipts()
    del sinks.failures["write_receipts"]
    await flush_receipts()
    assert sinks.args("write_receipts")[-1][1] == {"s1": 1}
    assert not agent_module._dirty_counts


async def test_story_removed_then_its_media_removed(stories: Any, sinks: Any) -> None:
    await stories(story_created("s1", media="m7"))
    assert author_stories["a1"][0][3] == "m7"  # the row keeps the media id
    await stories(story_removed("story_deleted", "s1"))
    assert sinks.args("remove_media") == [(["m7"],)]
    assert sinks.named("remove_media") == [{"owner_id": "a1"}]  # what else shows it stays
    writes = sinks.writes()
    assert (
        writes.index("remove_story") < writes.index("rescore_trays") < writes.index("remove_media")
    )


async def test_story_expired_removes_its_media_though_its_card_is_gone(
    stories: Any, sinks: Any
) -> None:
    await stories(story_created("s1", at=ago(hours=25), media="m7"))
    await stories(story_created("s2", media="m8"))
    await stories(story_removed("story_expired", "s1"))
    assert sinks.args("remove_media") == [(["m7"],)]
    assert author_stories["a1"] == [[*LiveStory.from_row(author_stories["a1"][0]).to_row(), "m8"]]


def test_story_rows_written_before_media_ids_were_kept_name_none() -> None:
    rows = [LiveStory("s1", 1, False).to_row(), [*LiveStory("s2", 2, True).to_row(), "m2"]]
    assert agent_module.media_of(rows) == {"s2": "m2"}
    assert agent_module.media_of(None) == {}


def story_view_removed(viewer: str, story_id: str = "s1") -> EventBase:
    return event_factory("story_view_removed", user_id=viewer, story_id=story_id)


async def test_story_view_removed_leaves_list_and_count(views: Any, sinks: Any) -> None:
    one = await views(story_viewed("v1"))
    await views(story_viewed("v2"))
    await views(story_view_removed("v2"))
    assert story_view_counts["s1"] == 1
    assert story_first_views.get(("s1", "v2")) is None
    await flush_receipts()
    assert sinks.args("write_receipts") == [
        ({"s1": {"v1": one.occurred_ms, "v2": None}}, {"s1": 1})
    ]


async def test_story_view_removed_twice_or_unknown_counts_once(views: Any, sinks: Any) -> None:
    await views(story_viewed("v1"))
    await views(story_view_removed("v1"))
    await flush_receipts()
    removal = story_view_removed("v1")
    await views(removal)  # again (a later pass of the same erasure)
    await views(story_view_removed("nobody"))
    assert story_view_counts["s1"] == 0
    await flush_receipts()
    # The rows are cleared again (a withdrawal after a crash still clears them); no count.
    assert sinks.args("write_receipts")[-1] == ({"s1": {"v1": None, "nobody": None}}, {})


async def test_recovery_recounts_views_from_first_views(harness: Any) -> None:
    # As a crash between the two changelogs leaves them: a first view durable, its count not.
    first_views_log.raw[("s1", "v1")] = 1
    first_views_log.raw[("s1", "v2")] = 2
    first_views_log.raw[("s1", "v3")] = None  # withdrawn
    view_counts_log.raw["s1"] = 1
    await agent_module._reflush_after_recovery()
    assert view_counts_log.raw["s1"] == 2
    assert [(key, value) for _, key, value in view_counts_log.seal()] == [("s1", 2)]
    assert agent_module._dirty_viewers == {"s1": {"v1": 1, "v2": 2, "v3": None}}


async def test_story_batch_effects_in_event_order_audiences_read_once(
    harness: Any, sinks: Any
) -> None:
    sinks.followers["a1"] = ["f1", "f2"]
    sinks.followers["a2"] = ["f3"]
    one = story_created("s1", at=ago(minutes=9))
    two = story_created("s2", at=ago(minutes=8), media="m2")
    other = event_factory("story_created", user_id="a2", story_id="t1", media_id="m9")
    gone = story_removed("story_deleted", "s2")
    async with fan_out_stories.test_context() as agent:
        puts = [
            await harness.feed(agent, e, key=e.user_id, handled=False)
            for e in (one, two, other, gone)
        ]
        await until(lambda: all(p.message.acked for p in puts), what="the batch's commit")
    assert sinks.writes() == [
        "write_stories", "write_story", "write_story", "write_story", "remove_story",
        "write_trays", "push_story", "push_story", "push_story", "rescore_trays",
        "remove_media",
    ]  # fmt: skip
    ((authors,),) = sinks.args("read_audiences")  # once for the whole batch
    assert sorted(set(authors)) == ["a1", "a2"]
    assert sinks.named("rescore_trays") == [
        {"author_id": "a1", "scores": {"f1": one.occurred_ms, "f2": one.occurred_ms}}
    ]
    # One changelog record per author, its latest value.
    records = {key: value for _, key, value in harness.changelogs.records("author_stories")}
    assert [r[0] for r in records["a1"]] == ["s1"] and [r[0] for r in records["a2"]] == ["t1"]


async def test_story_acked_only_after_trays_and_changelog(harness: Any, sinks: Any) -> None:
    harness.changelogs.gate = asyncio.Event()
    async with fan_out_stories.test_context() as agent:
        put = await harness.feed(agent, story_created("s1"), key="a1", handled=False)
        await until(lambda: sinks.named("push_story"), what="the tray pushes")
        await asyncio.sleep(0.05)
        assert not put.message.acked  # its table change is not durable yet
        harness.changelogs.gate.set()
        await until(lambda: put.message.acked, what="the batch's commit")


async def test_story_batch_failed_write_retried_before_ack(
    harness: Any, sinks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("streams.retry.UNTIL_DONE_BACKOFF_S", 0.01)
    sinks.followers["a1"] = ["f1"]
    sinks.failures["write_trays"] = ConnectionError("redis down")
    async with fan_out_stories.test_context() as agent:
        put = await harness.feed(agent, story_created("s1"), key="a1", handled=False)
        await until(lambda: sinks.args("write_trays"), what="the first attempt")
        assert not put.message.acked
        del sinks.failures["write_trays"]
        await until(lambda: put.message.acked, what="the batch's commit")
    # The whole batch's effects again (idempotent), then the changelog.
    assert len(sinks.args("write_stories")) >= 2
    assert sinks.named("push_story")[-1]["recipients"] == ("f1",)
