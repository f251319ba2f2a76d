"""erase_accounts and the erasure sweep without a broker: the cascade an account_deleted
starts, its deterministic compensating events, and the sweep's passes and last traces.

``erasure_fakes`` also gives the agents of posts, stories and engagement the fakes of
the sinks the erasure work added (media removal, share indexes); other agent tests use
it through ``ERASURE_SINKS``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from agents.erasure import SETTLE_MS, erase_accounts, sweep_once
from domain.clock import to_micros
from domain.erasure import CAUSE, MAX_PASSES, Erasure, Facts, Holdings, compensation_id
from settings import get_settings
from tests.factories import event_factory
from tests.unit.test_agents.conftest import FakeSinks, Harness, _sink

SETTINGS = get_settings()
GRACE_MS = SETTINGS.username_grace_s * 1000
RECHECK_MS = min(SETTINGS.access_token_ttl_s, SETTINGS.username_grace_s) * 1000


@dataclass
class ErasureWorld:
    """What the erasure's sinks hold, as the fakes answer it."""

    facts: dict[str, Facts] = field(default_factory=dict)
    holdings: dict[str, Holdings] = field(default_factory=dict)
    erasures: dict[str, Erasure] = field(default_factory=dict)
    traces: list[int] = field(default_factory=list)  # what each erase_account_traces finds


def world(sinks: FakeSinks) -> ErasureWorld:
    if not hasattr(sinks, "erasure_world"):
        sinks.erasure_world = ErasureWorld()  # type: ignore[attr-defined]
    return sinks.erasure_world  # type: ignore[attr-defined,no-any-return]


def _remove_media(self: FakeSinks, media_ids: Any, **_: Any) -> int:
    return 0


def _write_shares(self: FakeSinks, writes: Any) -> None:
    return None


def _write_tombstone(self: FakeSinks, user_id: str, **_: Any) -> None:
    return None


def _read_facts(self: FakeSinks, user_id: str) -> tuple[Facts, Holdings]:
    w = world(self)
    return w.facts.get(user_id, Facts(user_id)), w.holdings.get(user_id, Holdings())


def _leave_audience(self: FakeSinks, author_id: str, followers: Any, *_: Any) -> int:
    return len(list(followers))


def _remember(self: FakeSinks, user_id: str, holdings: Holdings, **_: Any) -> None:
    w = world(self)
    if user_id in w.erasures:
        e = w.erasures[user_id]
        w.erasures[user_id] = replace(e, holdings=e.holdings | holdings)


def _write_erasure(self: FakeSinks, erasure: Erasure, **_: Any) -> None:
    w = world(self)
    kept = w.erasures.get(erasure.user_id)
    w.erasures[erasure.user_id] = kept or erasure


def _read_erasures(self: FakeSinks) -> list[Erasure]:
    return list(world(self).erasures.values())


def _write_progress(self: FakeSinks, erasure: Erasure) -> None:
    w = world(self)
    kept = w.erasures[erasure.user_id]
    w.erasures[erasure.user_id] = replace(erasure, holdings=kept.holdings)


def _drop_erasure(self: FakeSinks, user_id: str) -> None:
    world(self).erasures.pop(user_id, None)


def _found(self: FakeSinks, *_: Any) -> int:
    return 0


def _erase_account_traces(self: FakeSinks, erasure: Erasure) -> int:
    traces = world(self).traces
    return traces.pop(0) if traces else 0


ERASURE_SINKS = {
    "remove_media": _remove_media,
    "write_shares": _write_shares,
    "write_tombstone": _write_tombstone,
    "read_facts": _read_facts,
    "leave_audience": _leave_audience,
    "remember": _remember,
    "write_erasure": _write_erasure,
    "read_erasures": _read_erasures,
    "write_progress": _write_progress,
    "drop_erasure": _drop_erasure,
    "erase_posts": _found,
    "erase_stories": _found,
    "erase_receipts": _found,
    "erase_comments": _found,
    "erase_account_traces": _erase_account_traces,
}


def _named(name: str, fn: Any) -> Any:
    def fake(self: FakeSinks, *args: Any, **kwargs: Any) -> Any:
        return fn(self, *args, **kwargs)

    fake.__name__ = fake.__qualname__ = name
    return _sink(fake)


@pytest.fixture(autouse=True)
def erasure_fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fakes of the erasure's sinks on ``FakeSinks`` (recorded like the others), before
    the harness replaces the agents' sinks with them."""
    for name, fn in ERASURE_SINKS.items():
        monkeypatch.setattr(FakeSinks, name, _named(name, fn), raising=False)
    monkeypatch.setattr(FakeSinks, "READS", FakeSinks.READS | {"read_facts", "read_erasures"})


# --- helpers ------------------------------------------------------------------------

FACTS = Facts(
    user_id="d1",
    following=frozenset({"f1"}),
    followers=frozenset({"f2"}),
    blocked=frozenset({"b1"}),
    muted_by=frozenset({"m1"}),
    requests_sent=frozenset({"o1"}),
    posts=frozenset({"p1"}),
    stories=frozenset({"s1"}),
    likes=frozenset({"p9"}),
    saves=frozenset({"p9"}),
    shares=frozenset({("e-share", "p9")}),
    comments=frozenset({("c1", "p9")}),
    views=frozenset({"s9"}),
)
HOLDINGS = Holdings(frozenset({"p1", "p0"}), frozenset({"s1"}), frozenset({"md1"}))


@pytest.fixture
async def erase(harness: Harness) -> AsyncIterator[Any]:
    async with erase_accounts.test_context() as agent:

        async def put(event: Any) -> Any:
            await harness.feed(agent, event, key=event.user_id)
            return event

        yield put


@pytest.fixture
def erasure_world(harness: Harness) -> Iterator[ErasureWorld]:
    w = world(harness.sinks)
    w.facts["d1"], w.holdings["d1"] = FACTS, HOLDINGS
    yield w


def deleted(user_id: str = "d1", **fields: Any) -> Any:
    return event_factory("account_deleted", user_id=user_id, username="dora", **fields)


def sent_events(harness: Harness) -> list[tuple[str, bytes | None, str, str]]:
    return [(m.topic, m.key, m.event.type, m.event.user_id) for m in harness.sent.messages]


# --- the cascade --------------------------------------------------------------------


async def test_account_deleted_hides_then_undoes_every_fact(
    erase: Any, harness: Harness, erasure_world: ErasureWorld
) -> None:
    event = await erase(deleted())
    sinks = harness.sinks
    # The tombstone first: every read hides the account before anything else happens.
    assert sinks.writes()[0] == "write_tombstone"
    assert sinks.named("write_tombstone")[0]["micros"] == to_micros(event.occurred_at)
    assert sinks.args("remove_media") == [(["md1"],)]
    assert sinks.args("leave_audience") == [("d1", frozenset({"f2"}), ["s1"], ["p0", "p1"])]
    assert sent_events(harness) == [
        ("graph", b"f1", "unfollow", "d1"),
        ("graph", b"d1", "unfollow", "f2"),
        ("graph", b"o1", "follow_request_cancelled", "d1"),
        ("graph", b"d1", "unmute", "m1"),
        ("graph", b"b1", "unblock", "d1"),
        ("graph", b"d1", "unblock", "b1"),
        ("posts", b"d1", "post_deleted", "d1"),
        ("stories", b"d1", "story_deleted", "d1"),
        ("engagement", b"p9", "unlike", "d1"),
        ("engagement", b"p9", "unsave", "d1"),
        ("engagement", b"p9", "share_removed", "d1"),
        ("engagement", b"p9", "comment_deleted", "d1"),
        ("story-views", b"s9", "story_view_removed", "d1"),
    ]
    for message in harness.sent.messages:
        assert message.event.occurred_at == event.occurred_at
        assert (message.event.model_extra or {}).get("cause") == CAUSE
    recorded = erasure_world.erasures["d1"]
    assert recorded.username == "dora" and recorded.event_id == event.event_id
    assert recorded.due_ms == event.occurred_ms + GRACE_MS
    assert recorded.recheck_ms == event.occurred_ms + RECHECK_MS


async def test_account_deleted_replayed_sends_the_same_events(
    erase: Any, harness: Harness, erasure_world: ErasureWorld
) -> None:
    event = await erase(deleted())
    first = [m.value for m in harness.sent.messages]
    await erase(event)
    assert [m.value for m in harness.sent.messages] == first + first
    share = next(m.event for m in harness.sent.messages if m.event.type == "share_removed")
    assert share.event_id == compensation_id(event.event_id, "share_removed", "e-share")
    assert share.share_id == "e-share"  # type: ignore[attr-defined]


async def test_account_deleted_with_nothing_left_sends_nothing(
    erase: Any, harness: Harness
) -> None:
    await erase(deleted("d2"))
    assert harness.sent.messages == []
    assert "d2" in world(harness.sinks).erasures


async def test_other_users_events_ignored(erase: Any, harness: Harness) -> None:
    await erase(event_factory("feed_opened", user_id="d1"))
    await erase(event_factory("profile_updated", user_id="d1"))
    assert harness.sinks.writes() == [] and harness.sent.messages == []


async def test_undecodable_message_left_to_the_users_agent(harness: Harness) -> None:
    async with erase_accounts.test_context() as agent:
        await harness.feed(agent, b"{not json", key="d1", handled=False)
    assert harness.sent.to("dlq") == []


# --- the sweep ----------------------------------------------------------------------


async def started(erase: Any, harness: Harness) -> tuple[Any, Erasure]:
    event = await erase(deleted())
    harness.sent.messages.clear()
    return event, world(harness.sinks).erasures["d1"]


async def test_sweep_waits_until_the_old_access_tokens_expired(
    erase: Any, harness: Harness, erasure_world: ErasureWorld
) -> None:
    _, erasure = await started(erase, harness)
    assert await sweep_once(erasure.recheck_ms - 1) == 0
    assert harness.sent.messages == []


async def test_sweep_recheck_undoes_what_was_written_since(
    erase: Any, harness: Harness, erasure_world: ErasureWorld
) -> None:
    event, erasure = await started(erase, harness)
    now = erasure.recheck_ms
    assert await sweep_once(now) == 1
    sent = harness.sent.messages
    assert sent and all(m.event.occurred_ms == now for m in sent)
    first_ids = {compensation_id(event.event_id, m.event.type) for m in sent}
    assert not first_ids & {m.event.event_id for m in sent}  # a pass of its own
    assert erasure_world.erasures["d1"].rechecked
    if erasure.recheck_ms < erasure.due_ms:
        assert await sweep_once(now + 1) == 0  # once, until the grace period is over


async def test_sweep_after_grace_passes_then_removes_traces_then_finishes(
    erase: Any, harness: Harness, erasure_world: ErasureWorld
) -> None:
    _, erasure = await started(erase, harness)
    due = erasure.due_ms
    assert await sweep_once(due) == 1  # the last pass
    assert erasure_world.erasures["d1"].passes == 1
    assert await sweep_once(due + SETTLE_MS - 1) == 0  # its events still landing
    erasure_world.facts["d1"] = Facts("d1")  # everything undone
    erasure_world.traces[:] = [7, 0]
    harness.sent.messages.clear()
    assert await sweep_once(due + SETTLE_MS) == 1
    assert harness.sent.messages == []
    assert erasure_world.erasures["d1"].cleaned_ms == due + SETTLE_MS
    (traces,) = harness.sinks.args("erase_account_traces")
    assert traces[0].user_id == "d1"
    # Everything the cascade ever found goes, the remembered ids with the fresh ones.
    assert harness.sinks.args("erase_posts")[0] == ("d1", ["p0", "p1"])
    assert await sweep_once(due + 2 * SETTLE_MS) == 1  # a later look finds nothing
    assert "d1" not in erasure_world.erasures


async def test_sweep_facts_left_after_the_pass_get_another_pass(
    erase: Any, harness: Harness, erasure_world: ErasureWorld
) -> None:
    _, erasure = await started(erase, harness)
    now = erasure.due_ms
    await sweep_once(now)
    for n in range(2, MAX_PASSES + 1):
        now += SETTLE_MS
        await sweep_once(now)
        assert erasure_world.erasures["d1"].passes == n
    assert harness.sinks.args("erase_account_traces") == []
    now += SETTLE_MS
    await sweep_once(now)  # undos that never land stop being repeated: traces go anyway
    assert len(harness.sinks.args("erase_account_traces")) == 1
