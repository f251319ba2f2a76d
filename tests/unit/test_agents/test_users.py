"""track_users without a broker: profiles, and a user opening their feed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import agents.users
from agents.users import track_users
from domain.clock import DAY_MS, now_ms
from schemas.events import EventBase, make_event
from settings import get_settings
from tests.factories import event_factory
from tests.unit.test_agents.conftest import until
from tests.unit.test_agents.test_graph import GraphFacts, install_graph_facts

INACTIVE_AFTER_DAYS = get_settings().inactive_after_days


def feed_opened(user_id: str = "u1") -> EventBase:
    return make_event("feed_opened", user_id=user_id)


@pytest.fixture
def facts(monkeypatch: pytest.MonkeyPatch, harness: Any) -> GraphFacts:
    return install_graph_facts(monkeypatch, harness)


@pytest.fixture
async def users(harness: Any, facts: GraphFacts) -> AsyncIterator[Any]:
    async with track_users.test_context() as agent:

        async def put(event: EventBase | bytes, *, key: str = "u1", handled: bool = True) -> None:
            # Returns once the event's batch is acked (an invalid one: dead-lettered too).
            put = await harness.feed(agent, event, key=key, handled=False)
            await until(lambda: put.message.acked, what="the batch's commit")

        yield put


async def test_profile_updated_written_as_received(users: Any, sinks: Any) -> None:
    profile = event_factory("profile_updated", user_id="u1", username="ada")
    await users(profile)
    assert sinks.args("write_profile") == [(profile,)]


async def test_profile_invalid_dead_lettered_with_field(users: Any, sinks: Any, sent: Any) -> None:
    await users(b'{"type": "profile_updated", "user_id": "u1"}', handled=False)
    assert sinks.writes() == []
    (letter,) = [m.letter for m in sent.to("dlq")]
    assert letter.stage == "validate" and "field 'username'" in letter.reason
    assert letter.source_topic.endswith(".users")
    assert sent.to("dlq")[0].key == b"u1"


async def test_feed_opened_active_user_marked_without_rebuild(users: Any, sinks: Any) -> None:
    opened = feed_opened()
    await users(opened)
    (args,) = sinks.args("mark_active")
    assert args[0] == "u1" and args[1] >= opened.occurred_ms
    assert sinks.args("rebuild_feed") == []


async def test_feed_opened_after_long_idle_rebuilds_feed(users: Any, sinks: Any) -> None:
    sinks.seen_ms["u1"] = float(now_ms() - (INACTIVE_AFTER_DAYS + 1) * DAY_MS)
    await users(feed_opened())
    assert sinks.writes() == ["mark_active", "rebuild_feed"]  # marked first: pushes resume
    assert sinks.args("rebuild_feed") == [("u1",)]


async def test_feed_opened_first_time_rebuilds_feed(users: Any, sinks: Any) -> None:
    sinks.idle.add("u1")
    opened = feed_opened()
    await users(opened)
    assert sinks.args("mark_active") == [("u1", opened.occurred_ms)]
    assert sinks.args("rebuild_feed") == [("u1",)]


# --- going public approves pending follow requests ---------------------------------------


@pytest.fixture
def newest(monkeypatch: pytest.MonkeyPatch, sinks: Any) -> dict[str, bool]:
    """``write_profiles`` answers whether the cache now holds each version (True here)."""
    answer = {"newest": True}
    recorded = agents.users.write_profiles

    async def write_profiles(conn: Any, events: Any) -> list[bool]:
        await recorded(conn, events)
        return [answer["newest"]] * len(events)

    monkeypatch.setattr(agents.users, "write_profiles", write_profiles)
    return answer


def profile(*, private: bool, user_id: str = "owner") -> EventBase:
    return event_factory("profile_updated", user_id=user_id, is_private=private)


async def test_profile_going_public_approves_every_pending_request(
    users: Any, sinks: Any, sent: Any, facts: GraphFacts, newest: Any
) -> None:
    facts.requests["owner"] = {"fan": 2, "early": 1}
    public = profile(private=False)
    await users(public, key="owner")
    assert sinks.writes() == ["write_profile"]  # written before the requests are read
    approvals = sent.to("graph")
    assert [m.key for m in approvals] == [b"early", b"fan"]  # keyed by the requester
    for message, requester in zip(approvals, ("early", "fan"), strict=True):
        event = message.event
        assert event.type == "follow_request_approved"
        assert (event.user_id, event.target_id) == ("owner", requester)  # type: ignore[attr-defined]
        assert event.event_id == f"{public.event_id}-approve-{requester}"
        assert event.occurred_at == public.occurred_at


async def test_profile_staying_private_approves_nothing(
    users: Any, sinks: Any, sent: Any, facts: GraphFacts, newest: Any
) -> None:
    facts.requests["owner"] = {"fan": 1}
    await users(profile(private=True), key="owner")
    assert sent.messages == []
    assert "read_follow_requests" not in [call.name for call in sinks.calls]


async def test_profile_older_than_cached_one_approves_nothing(
    users: Any, sent: Any, facts: GraphFacts, newest: Any
) -> None:
    facts.requests["owner"] = {"fan": 1}
    newest["newest"] = False  # a newer (private) profile is already in place
    await users(profile(private=False), key="owner")
    assert sent.messages == []


async def test_profile_public_without_requests_sends_nothing(
    users: Any, sent: Any, facts: GraphFacts, newest: Any
) -> None:
    await users(profile(private=False), key="owner")
    assert sent.messages == []
