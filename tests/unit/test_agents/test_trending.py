"""route_hashtags, count_hashtags and the recount timer without a broker: posts re-keyed
one message per tag, and exact per-(tag, user) uses."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from agents import trending as agent_module
from agents.trending import count_hashtags, flush_trending, route_hashtags
from domain.clock import to_micros
from schemas.events import EventBase
from sinks.trending import HashtagWrite
from tables.trending import post_hashtags, tag_user_uses
from tests.factories import event_factory
from tests.unit.test_agents.conftest import until


def post_created(caption: str, post_id: str = "p1", *, author: str = "a1") -> EventBase:
    return event_factory("post_created", user_id=author, post_id=post_id, caption=caption, media=[])


def post_deleted(post_id: str = "p1", *, author: str = "a1") -> EventBase:
    return event_factory("post_deleted", user_id=author, post_id=post_id)


def tag_copy(event: EventBase, tag: str, *, author: str = "a1", created_ms: int) -> bytes:
    """A post event as route_hashtags re-keys it onto the hashtags topic."""
    return orjson.dumps(
        {**event.model_dump(mode="json"), "author_id": author, "created_ms": created_ms, "tag": tag}
    )


async def committed(harness: Any, agent: Any, *puts: tuple[bytes | EventBase, str]) -> None:
    """Put messages in order (one batch, applied at once); wait until all are acked."""
    done = [await harness.feed(agent, value, key=key, handled=False) for value, key in puts]
    await until(lambda: all(p.message.acked for p in done), what="the batch's commit")


@pytest.fixture
async def route(harness: Any) -> AsyncIterator[Any]:
    async with route_hashtags.test_context() as agent:

        async def put(event: EventBase) -> EventBase:
            await committed(harness, agent, (event, event.user_id))
            return event

        yield put


@pytest.fixture
async def count(harness: Any) -> AsyncIterator[Any]:
    async with count_hashtags.test_context() as agent:

        async def put(value: bytes, tag: str) -> None:
            await committed(harness, agent, (value, tag))

        yield put


def uses_written(sinks: Any) -> list[HashtagWrite]:
    return [w for (writes,) in sinks.args("write_hashtag_uses") for w in writes]


async def test_post_hashtags_rekeyed_one_message_per_tag(route: Any, sent: Any) -> None:
    post = await route(post_created("#Sun and #sea, #SUN again"))
    assert [(m.topic, m.key) for m in sent.messages] == [("hashtags", b"sun"), ("hashtags", b"sea")]
    copy = orjson.loads(sent.messages[0].value)
    assert copy["tag"] == "sun" and copy["post_id"] == "p1"
    assert (copy["author_id"], copy["created_ms"]) == ("a1", post.occurred_ms)
    assert copy["event_id"] == post.event_id
    assert post_hashtags["p1"] == {
        "tags": ["sun", "sea"],
        "author_id": "a1",
        "created_ms": post.occurred_ms,
    }


async def test_post_without_hashtags_sends_nothing(route: Any, sent: Any) -> None:
    await route(post_created("no tags here"))
    assert sent.messages == []
    assert "p1" not in post_hashtags


async def test_post_deleted_forwarded_to_each_known_tag(route: Any, sent: Any) -> None:
    post = await route(post_created("#a #b"))
    await route(post_deleted())
    removals = sent.messages[2:]
    assert [(m.key, m.event.type) for m in removals] == [
        (b"a", "post_deleted"),
        (b"b", "post_deleted"),
    ]
    assert orjson.loads(removals[0].value)["created_ms"] == post.occurred_ms
    assert post_hashtags["p1"]["deleted"] is True


async def test_post_deleted_before_created_never_counts(route: Any, sent: Any) -> None:
    await route(post_deleted())
    await route(post_created("#late"))
    assert sent.messages == []


async def test_post_deleted_by_another_user_is_not_forwarded(route: Any, sent: Any) -> None:
    await route(post_created("#a"))
    await route(post_deleted(author="intruder"))
    assert [m.event.type for m in sent.messages] == ["post_created"]
    assert "deleted" not in post_hashtags["p1"]


async def test_hashtag_use_kept_once_per_user(count: Any, sinks: Any) -> None:
    post = post_created("#sun")
    await count(tag_copy(post, "sun", created_ms=post.occurred_ms), "sun")
    await count(tag_copy(post, "sun", created_ms=post.occurred_ms), "sun")  # a replay
    assert tag_user_uses[("sun", "a1")] == {"p1": post.occurred_ms}
    write = uses_written(sinks)[-1]
    assert write.newest_ms == post.occurred_ms and write.deleted is False
    assert write.event_micros == to_micros(post.occurred_at)


async def test_hashtag_use_deleted_removed_and_written_absent(count: Any, sinks: Any) -> None:
    post = post_created("#sun")
    await count(tag_copy(post, "sun", created_ms=post.occurred_ms), "sun")
    await count(tag_copy(post_deleted(), "sun", created_ms=post.occurred_ms), "sun")
    assert tag_user_uses[("sun", "a1")] == {}
    write = uses_written(sinks)[-1]
    assert write.newest_ms is None and write.deleted is True


async def test_hashtag_use_past_longest_window_not_kept(count: Any, sinks: Any) -> None:
    old = event_factory(
        "post_created",
        user_id="a1",
        post_id="p1",
        caption="#sun",
        media=[],
        occurred_at=datetime.now(UTC) - timedelta(days=8),
    )
    await count(tag_copy(old, "sun", created_ms=old.occurred_ms), "sun")
    assert ("sun", "a1") not in tag_user_uses
    assert uses_written(sinks)[0].newest_ms is None


async def test_flush_trending_failure_logged_not_raised(harness: Any, sinks: Any) -> None:
    sinks.failures["recount_trending"] = ConnectionError("redis down")
    await inspect.unwrap(flush_trending)()  # the body of the timer, once
    assert len(sinks.args("recount_trending")) == 1


async def test_hashtag_copies_replayed_in_one_batch_stay_exact(harness: Any, sinks: Any) -> None:
    one, two = post_created("#sun", "p1"), post_created("#sun", "p2")
    copy_one = tag_copy(one, "sun", created_ms=one.occurred_ms)
    copy_two = tag_copy(two, "sun", created_ms=two.occurred_ms)
    gone = tag_copy(post_deleted("p1"), "sun", created_ms=one.occurred_ms)
    async with count_hashtags.test_context() as agent:
        # Duplicates, a deletion and its replay, all in one batch.
        await committed(
            harness,
            agent,
            *[(v, "sun") for v in (copy_one, copy_two, copy_one, gone, copy_two, gone)],
        )
    assert tag_user_uses[("sun", "a1")] == {"p2": two.occurred_ms}
    records = harness.changelogs.records("tag_user_uses")
    assert [(key, value) for _, key, value in records] == [
        (("sun", "a1"), {"p2": two.occurred_ms})
    ]  # one record per changed key per batch
    assert uses_written(sinks)[-1].newest_ms == two.occurred_ms


async def test_hashtag_copy_without_its_fields_is_dead_lettered(
    count: Any, sinks: Any, sent: Any
) -> None:
    await count(post_created("#sun").to_json(), "sun")  # no tag, author or time
    (letter,) = [m.letter for m in sent.to("dlq")]
    assert letter.stage == "process" and "not a hashtag copy" in letter.reason
    assert not tag_user_uses.data.data and uses_written(sinks) == []


async def test_route_copies_sent_before_the_table_change(harness: Any, sent: Any) -> None:
    order: list[str] = []
    hashtag_copies = agent_module.hashtag_copies
    record = hashtag_copies.send

    async def send(copies: Any) -> None:
        await record(copies)
        order.append("copies")

    hashtag_copies.send = send  # type: ignore[method-assign]
    try:
        async with route_hashtags.test_context() as agent:
            await committed(harness, agent, (post_created("#sun"), "a1"))
    finally:
        hashtag_copies.send = record  # type: ignore[method-assign]
    assert order + harness.changelogs.order == ["copies", "changelog post_hashtags"]
    assert [m.key for m in sent.to("hashtags")] == [b"sun"]


async def test_route_undecodable_post_acked_without_a_letter(harness: Any, sent: Any) -> None:
    async with route_hashtags.test_context() as agent:
        put = await harness.feed(agent, b"{not json", key="a1", handled=False)
        await until(lambda: put.message.acked, what="the ack")
    assert sent.messages == []  # the posts agent dead-letters it
