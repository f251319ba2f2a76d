"""index_users and index_hashtags without a broker: the batch pipeline really runs, the
sinks are recorded fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from agents.search import index_hashtags, index_users, refresh, refresh_once
from sinks.search import NameChange
from tables.search import tag_counts
from tests.factories import event_factory
from tests.unit.test_agents.conftest import until


@pytest.fixture(autouse=True)
def empty_search_state() -> Iterator[None]:
    """The counts and the refresh set live beside the tables: emptied around each test."""
    tag_counts.counts.clear()
    refresh.take()
    yield
    tag_counts.counts.clear()
    refresh.take()


@pytest.fixture
async def users(harness: Any) -> AsyncIterator[Any]:
    async with index_users.test_context() as agent:

        async def put(*events: Any) -> None:
            puts = [await harness.feed(agent, e, key=e.user_id, handled=False) for e in events]
            await until(lambda: all(p.message.acked for p in puts), what="the commit")

        yield put


def profile(user: str, username: str, display: str = "", **kw: Any) -> Any:
    fields = {"username": username, "display_name": display, "is_private": False, **kw}
    return event_factory("profile_updated", user_id=user, **fields)


def changes(sinks: Any) -> list[NameChange]:
    return [c for args in sinks.args("write_user_index") for c in args[0]]


async def test_a_rename_replaces_exactly_the_old_terms(users: Any, sinks: Any) -> None:
    await users(profile("u1", "ada", "Ada Lovelace"))
    await users(profile("u1", "countess", "Ada Lovelace"))
    assert changes(sinks) == [
        NameChange("u1", (), ("ada lovelace", "lovelace")),
        NameChange("u1", ("ada lovelace", "lovelace"), ("ada lovelace", "countess", "lovelace")),
    ]


async def test_duplicates_and_history_change_nothing(users: Any, sinks: Any) -> None:
    first = profile("u1", "ada")
    older = profile("u1", "old", occurred_at="2020-01-01T00:00:00Z")
    await users(first, first, older)
    assert changes(sinks) == [NameChange("u1", (), ("ada",))]


async def test_a_deletion_removes_every_term_for_good(users: Any, sinks: Any) -> None:
    await users(profile("u1", "ada"))
    await users(event_factory("account_deleted", user_id="u1"))
    await users(profile("u1", "back"))
    assert changes(sinks)[1:] == [NameChange("u1", ("ada",), ())]


async def test_a_follow_rescores_the_followed_user(users: Any, sinks: Any) -> None:
    await users(profile("u2", "bob"))
    follow = event_factory("follow", user_id="u1", target_id="u2")
    await users(follow)
    assert sinks.args("write_user_index")[-1] == ([], {"u2": ("bob",)})
    # Read again a moment later, once the graph has projected its count.
    assert "u2" in refresh.users
    await refresh_once()
    assert sinks.args("write_user_index")[-1] == ([], {"u2": ("bob",)})


def copy(kind: str, tag: str, post: str) -> bytes:
    fields: dict[str, Any] = {"post_id": post, "user_id": "a1"}
    if kind == "post_created":
        fields |= {"caption": f"#{tag}", "media": []}
    body = event_factory(kind, **fields).model_dump(mode="json")
    return orjson.dumps({**body, "tag": tag, "author_id": "a1", "created_ms": 1})


async def test_a_tags_count_is_its_live_posts_each_once(harness: Any, sinks: Any) -> None:
    async with index_hashtags.test_context() as agent:
        messages = [
            copy("post_created", "sun", "p1"),
            copy("post_created", "sun", "p1"),  # a replay
            copy("post_created", "sun", "p2"),
            copy("post_deleted", "sun", "p1"),
            copy("post_deleted", "sun", "p3"),  # deleted before its creation arrives
            copy("post_created", "sun", "p3"),
        ]
        puts = [await harness.feed(agent, m, key="sun", handled=False) for m in messages]
        await until(lambda: all(p.message.acked for p in puts), what="the commit")
    assert tag_counts.get("sun") == 1
    assert sinks.args("write_tag_index")[-1] == ({"sun": 1},)
