"""count_engagement, index_posts_by_id and the counts flush without a broker.

The batch pipeline really runs: events are applied to the marks at once, and its timer
(``engagement_batch_within_s``) commits them: staged rows to the (fake) sinks, the table
changes to the (fake) changelog writer, and only then the acks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agents.engagement import count_engagement, flush_once, index_posts_by_id
from domain.engagement import COMMENTS, LIKES, SAVES, SHARES, Mark
from schemas.events import EventBase
from sinks.engagement import CommentWrite, SaveWrite, ShareWrite
from tables.engagement import counters, lifecycle_of, marks_log
from tests.factories import event_factory
from tests.unit.test_agents.conftest import until
from tests.unit.test_agents.test_erasure import erasure_fakes  # noqa: F401 (autouse)


def engagement(kind: str, user_id: str = "u1", post_id: str = "p1", **fields: Any) -> EventBase:
    return event_factory(kind, user_id=user_id, post_id=post_id, **fields)


def created(post_id: str = "p1") -> EventBase:
    return engagement("post_created", user_id="a1", post_id=post_id, caption="", media=[])


def deleted(post_id: str = "p1", *, by: str = "a1") -> EventBase:
    return engagement("post_deleted", user_id=by, post_id=post_id)


def count(kind: str, post_id: str = "p1") -> int:
    return counters.counts.get(post_id, [0, 0, 0, 0])[
        {LIKES: 0, COMMENTS: 1, SAVES: 2, SHARES: 3}[kind]
    ]


@pytest.fixture
async def engage(harness: Any) -> AsyncIterator[Any]:
    async with count_engagement.test_context() as agent:

        async def put(*events: EventBase, committed: bool = True) -> list[Any]:
            """Put events in order (one batch, applied at once); wait for their commit."""
            puts = [
                await harness.feed(agent, e, key=e.post_id, handled=False)  # type: ignore[attr-defined]
                for e in events
            ]
            if committed:
                await until(lambda: all(p.message.acked for p in puts), what="the commit")
            return puts

        yield put


async def test_like_on_live_post_marked_counted_and_committed(engage: Any, harness: Any) -> None:
    like = engagement("like")
    await engage(created(), like)
    mark = Mark.from_json(marks_log.raw[("p1", "l", "u1")])
    assert mark.present and mark.event_ids == (like.event_id,)
    assert count(LIKES) == 1
    assert counters.dirty_likers == {"p1": {"u1": True}}
    assert [key for _, key, _ in harness.changelogs.records("engagement_marks")] == [
        ("p1", "l", "u1")
    ]
    assert [key for _, key, _ in harness.changelogs.records("post_lifecycle")] == ["p1"]


async def test_like_duplicate_event_changes_no_count(engage: Any, harness: Any) -> None:
    like = engagement("like")
    await engage(like)
    await engage(like)  # a replay, in a later batch
    assert count(LIKES) == 1
    assert len(harness.changelogs.records("engagement_marks")) == 1  # nothing staged again


async def test_like_second_by_same_user_changes_no_count(engage: Any) -> None:
    await engage(engagement("like"), engagement("like"))
    assert count(LIKES) == 1


async def test_unlike_after_like_counts_zero(engage: Any) -> None:
    await engage(engagement("like"), engagement("unlike"))
    assert count(LIKES) == 0
    assert not Mark.from_json(marks_log.raw[("p1", "l", "u1")]).present


async def test_like_on_deleted_post_dropped(engage: Any) -> None:
    await engage(created(), deleted(), engagement("like"))
    assert ("p1", "l", "u1") not in marks_log.raw
    assert count(LIKES) == 0
    assert lifecycle_of("p1") == "deleted"


async def test_post_created_after_delete_never_revives(engage: Any) -> None:
    await engage(deleted(), created())
    assert lifecycle_of("p1") == "deleted"


async def test_post_deleted_by_another_user_keeps_counting(engage: Any) -> None:
    await engage(created(), deleted(by="intruder"), engagement("like"))
    assert lifecycle_of("p1") == "live"
    assert count(LIKES) == 1


async def test_anothers_deletion_seen_first_does_not_bury_the_authors_post(engage: Any) -> None:
    await engage(deleted(by="intruder"), created(), engagement("like"))
    assert lifecycle_of("p1") == "live"
    assert count(LIKES) == 1


async def test_comment_created_stages_comment_row(engage: Any, sinks: Any) -> None:
    comment = engagement("comment_created", user_id="u2", comment_id="c1", text="nice")
    await engage(comment)
    writes = [w for (batch,) in sinks.args("write_comments") for w in batch]
    ms = comment.occurred_ms
    assert writes == [CommentWrite("p1", "c1", True, ms, ms * 1000, "u2", "nice")]
    assert count(COMMENTS) == 1


async def test_save_then_unsave_stages_both_rows_in_order(engage: Any, sinks: Any) -> None:
    save = engagement("save")
    await engage(save, engagement("unsave"))
    writes = [w for (batch,) in sinks.args("write_saves") for w in batch]
    assert [(w.user_id, w.post_id, w.present) for w in writes] == [
        ("u1", "p1", True),
        ("u1", "p1", False),
    ]
    assert writes[0] == SaveWrite("u1", "p1", True, save.occurred_ms * 1000, save.occurred_ms)
    assert count(SAVES) == 0


async def test_share_every_event_counts_once(engage: Any) -> None:
    await engage(engagement("share"), engagement("share"))
    assert count(SHARES) == 2


async def test_events_acked_only_after_changelog_send_returns(
    engage: Any, harness: Any, sinks: Any
) -> None:
    harness.changelogs.gate = asyncio.Event()
    (put,) = await engage(engagement("save"), committed=False)
    await until(lambda: sinks.args("write_saves"), what="the batch's effects")
    await asyncio.sleep(0.02)
    assert not put.message.acked  # effects written, the changelog still unacknowledged
    assert harness.changelogs.batches == []
    harness.changelogs.gate.set()
    await until(lambda: put.message.acked, what="the ack")
    assert harness.changelogs.order == ["changelog engagement_marks", "changelog post_lifecycle"]


async def test_flush_counts_holds_likers_until_post_known(engage: Any, sinks: Any) -> None:
    await engage(engagement("like"))
    assert await flush_once() == 0
    assert sinks.named("write_post_counts") == []
    await engage(created())
    await flush_once()
    assert sinks.args("write_post_counts") == [({"p1": [1, 0, 0, 0]}, [], {"p1": {"u1": True}})]


async def test_flush_counts_of_deleted_post_clears_it(engage: Any, sinks: Any) -> None:
    await engage(created(), engagement("like"), deleted())
    await flush_once()
    assert sinks.args("write_post_counts") == [({}, ["p1"], {})]


async def test_flush_counts_failed_write_retried_next_flush(engage: Any, sinks: Any) -> None:
    await engage(created(), engagement("like"))
    sinks.failures["write_post_counts"] = ConnectionError("cassandra down")
    with pytest.raises(ConnectionError):
        await flush_once()
    del sinks.failures["write_post_counts"]
    await flush_once()
    assert sinks.args("write_post_counts")[-1][0] == {"p1": [1, 0, 0, 0]}


@pytest.fixture
async def indexer(harness: Any) -> AsyncIterator[Any]:
    async with index_posts_by_id.test_context() as agent:

        async def put(event: EventBase | bytes, key: str = "a1") -> None:
            await harness.feed(agent, event, key=key, handled=False)

        yield put


async def test_post_lifecycle_rekeyed_by_post_id(indexer: Any, sent: Any) -> None:
    await indexer(created("p7"))
    await indexer(deleted("p7"))
    await indexer(engagement("like", post_id="p7"))  # not a post's lifecycle
    assert [(m.topic, m.key, m.event.type) for m in sent.messages] == [
        ("posts-by-id", b"p7", "post_created"),
        ("posts-by-id", b"p7", "post_deleted"),
    ]


async def test_post_index_undecodable_message_skipped(indexer: Any, sent: Any) -> None:
    await indexer(b"{not json")
    assert sent.messages == []  # the posts agent dead-letters it


async def test_share_removed_takes_back_that_share_only(engage: Any, sinks: Any) -> None:
    first, second = engagement("share"), engagement("share")
    await engage(created(), first, second)
    await engage(engagement("share_removed", share_id=first.event_id))
    assert count(SHARES) == 1
    writes = [w for (batch,) in sinks.args("write_shares") for w in batch]
    assert writes == [
        ShareWrite("u1", first.event_id, "p1", True),
        ShareWrite("u1", second.event_id, "p1", True),
        ShareWrite("u1", first.event_id, "p1", False),
    ]


async def test_share_removed_twice_or_unknown_changes_no_count(engage: Any) -> None:
    share = engagement("share")
    await engage(created(), share)
    removal = engagement("share_removed", share_id=share.event_id)
    await engage(removal)
    await engage(removal)  # a replay
    await engage(engagement("share_removed", share_id="never-shared"))
    assert count(SHARES) == 0


async def test_batch_without_shares_writes_no_share_index(engage: Any, sinks: Any) -> None:
    await engage(created(), engagement("like"), engagement("save"))
    assert sinks.args("write_shares") == []
