"""route_hashtags, count_hashtags and the recount timer without a broker: posts re-keyed
one message per tag, and exact per-(tag, user) uses."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from agents.trending import count_hashtags, flush_trending, route_hashtags
from domain.clock import to_micros
from schemas.events import EventBase
from tables.trending import post_hashtags, tag_user_uses
from tests.factories import event_factory


def post_created(caption: str, post_id: str = "p1", *, author: str = "a1") -> EventBase:
    return event_factory("post_created", user_id=author, post_id=post_id, caption=caption, media=[])


def post_deleted(post_id: str = "p1", *, author: str = "a1") -> EventBase:
    return event_factory("post_deleted", user_id=author, post_id=post_id)


def tag_copy(event: EventBase, tag: str, *, author: str = "a1", created_ms: int) -> bytes:
    """A post event as route_hashtags re-keys it onto the hashtags topic."""
    return orjson.dumps(
        {**event.model_dump(mode="json"), "author_id": author, "created_ms": created_ms, "tag": tag}
    )


@pytest.fixture
async def route(harness: Any) -> AsyncIterator[Any]:
    async with route_hashtags.test_context() as agent:

        async def put(event: EventBase) -> EventBase:
            await harness.feed(agent, event, key=event.user_id)
            return event

        yield put


@pytest.fixture
async def count(harness: Any) -> AsyncIterator[Any]:
    async with count_hashtags.test_context() as agent:

        async def put(value: bytes, tag: str) -> None:
            await harness.feed(agent, value, key=tag)

        yield put


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
    write = sinks.named("write_hashtag_use")[-1]
    assert write["newest_ms"] == post.occurred_ms and write["deleted"] is False
    assert write["event_micros"] == to_micros(post.occurred_at)


async def test_hashtag_use_deleted_removed_and_written_absent(count: Any, sinks: Any) -> None:
    post = post_created("#sun")
    await count(tag_copy(post, "sun", created_ms=post.occurred_ms), "sun")
    await count(tag_copy(post_deleted(), "sun", created_ms=post.occurred_ms), "sun")
    assert tag_user_uses[("sun", "a1")] == {}
    write = sinks.named("write_hashtag_use")[-1]
    assert write["newest_ms"] is None and write["deleted"] is True


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
    assert sinks.named("write_hashtag_use")[0]["newest_ms"] is None


async def test_flush_trending_failure_logged_not_raised(harness: Any, sinks: Any) -> None:
    sinks.failures["recount_trending"] = ConnectionError("redis down")
    await inspect.unwrap(flush_trending)()  # the body of the timer, once
    assert len(sinks.args("recount_trending")) == 1
