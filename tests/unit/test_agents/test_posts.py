"""track_posts and forward_media_results without a broker: a post waits for its media,
then reaches its author's active followers; a deletion retracts it everywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agents.posts import forward_media_results, track_posts
from domain.posts import DELETED, FAILED, PROCESSING, READY
from schemas.events import EventBase
from settings import get_settings
from tables.posts import media_outcomes, post_index, post_records
from tests.factories import event_factory
from tests.unit.test_agents.conftest import until
from tests.unit.test_agents.test_erasure import erasure_fakes  # noqa: F401 (autouse)

THRESHOLD = get_settings().celebrity_threshold


def post_created(
    post_id: str = "p1", *, author: str = "a1", media: tuple[str, ...] = ()
) -> EventBase:
    return event_factory(
        "post_created",
        user_id=author,
        post_id=post_id,
        caption="a caption",
        media=[{"media_id": m, "kind": "photo"} for m in media],
    )


def post_deleted(post_id: str = "p1", *, author: str = "a1") -> EventBase:
    return event_factory("post_deleted", user_id=author, post_id=post_id)


def media_ready(media_id: str, *, owner: str = "a1") -> EventBase:
    return event_factory("media_ready", user_id=owner, media_id=media_id)


def media_failed(media_id: str, *, owner: str = "a1") -> EventBase:
    return event_factory("media_failed", user_id=owner, media_id=media_id, reason="bomb: too big")


@pytest.fixture
async def posts(harness: Any) -> AsyncIterator[Any]:
    harness.sinks.followers["a1"] = ["f1", "f2"]
    async with track_posts.test_context() as agent:

        async def put(event: EventBase) -> EventBase:
            # Both inputs keyed by author; returns once the event's batch is acked.
            put = await harness.feed(agent, event, key=event.user_id, handled=False)
            await until(lambda: put.message.acked, what="the batch's commit")
            return event

        yield put


async def test_post_without_media_pushed_to_active_followers_at_once(
    posts: Any, sinks: Any
) -> None:
    sinks.idle.add("f2")
    created = await posts(post_created())
    assert sinks.named("push_post") == [
        {"post_id": "p1", "created_ms": created.occurred_ms, "recipients": ("f1",)}
    ]
    assert post_records["p1"]["state"] == READY
    assert post_index.counts["a1"] == 1


async def test_post_followers_hidden_or_muted_receive_nothing(posts: Any, sinks: Any) -> None:
    sinks.followers["a1"] = ["f1", "f2", "f3"]
    sinks.blocks.add(frozenset(("f2", "a1")))
    sinks.muted.add(("f3", "a1"))
    await posts(post_created())
    assert sinks.named("push_post")[0]["recipients"] == ("f1",)


async def test_post_with_media_waits_then_spread_once_media_ready(posts: Any, sinks: Any) -> None:
    await posts(post_created(media=("m1", "m2")))
    assert sinks.named("write_post")[0]["record"]["state"] == PROCESSING
    assert sinks.named("push_post") == []
    assert post_index.waiters == {"m1": ["p1"], "m2": ["p1"]}
    await posts(media_ready("m1"))
    assert sinks.named("push_post") == []  # m2 still processing
    await posts(media_ready("m2"))
    assert [p["recipients"] for p in sinks.named("push_post")] == [("f1", "f2")]
    assert post_records["p1"]["state"] == READY
    assert "m2" not in post_index.waiters


async def test_post_with_failed_media_fails_without_push(posts: Any, sinks: Any) -> None:
    await posts(post_created(media=("m1",)))
    await posts(media_failed("m1"))
    record = sinks.named("write_post")[-1]["record"]
    assert record["state"] == FAILED
    assert record["reason"] == "media m1 failed: bomb: too big"
    assert sinks.named("push_post") == []
    assert media_outcomes["m1"] == {"state": "failed", "reason": "bomb: too big"}


async def test_post_media_ready_first_post_ready_at_once(posts: Any, sinks: Any) -> None:
    await posts(media_ready("m1"))
    assert sinks.writes() == []  # nobody waits for m1 yet
    await posts(post_created(media=("m1",)))
    assert post_records["p1"]["state"] == READY
    assert len(sinks.named("push_post")) == 1


async def test_post_duplicate_created_counts_once(posts: Any) -> None:
    created = post_created()
    await posts(created)
    await posts(created)
    assert post_index.counts["a1"] == 1


async def test_post_stale_write_skips_fan_out(posts: Any, sinks: Any) -> None:
    sinks.fresh = False  # a newer state of the post is already in Redis
    await posts(post_created())
    assert sinks.named("push_post") == []


async def test_post_of_celebrity_pushed_to_nobody(posts: Any, sinks: Any) -> None:
    sinks.followers["a1"] = [f"f{n}" for n in range(THRESHOLD)]
    await posts(post_created())
    assert sinks.named("push_post")[0]["recipients"] == ()


async def test_post_deleted_retracted_from_followers_and_uncounted(posts: Any, sinks: Any) -> None:
    await posts(post_created())
    await posts(post_deleted())
    assert sinks.named("retract_post") == [{"post_id": "p1", "followers": ("f1", "f2")}]
    assert post_records["p1"]["state"] == DELETED
    assert post_index.counts.get("a1", 0) == 0


async def test_post_deleted_by_another_user_changes_nothing(posts: Any, sinks: Any) -> None:
    await posts(post_created())
    await posts(post_deleted(author="intruder"))
    assert post_records["p1"]["state"] == READY
    assert sinks.named("retract_post") == []


async def test_unknown_post_deleted_is_kept_but_never_projected(posts: Any, sinks: Any) -> None:
    # The post may be another author's (in another partition): nothing is written.
    await posts(post_deleted(author="intruder"))
    assert sinks.named("write_post") == []
    assert post_records["p1"]["state"] == DELETED


async def test_post_deleted_before_created_never_pushed(posts: Any, sinks: Any) -> None:
    await posts(post_deleted())
    await posts(post_created())
    assert sinks.named("push_post") == []
    assert post_records["p1"]["state"] == DELETED
    assert post_index.counts.get("a1", 0) == 0


@pytest.fixture
async def forwarder(harness: Any) -> AsyncIterator[Any]:
    async with forward_media_results.test_context() as agent:

        async def put(event: EventBase) -> None:
            await harness.feed(agent, event, key=event.media_id, handled=False)  # type: ignore[attr-defined]

        yield put


async def test_media_result_forwarded_rekeyed_by_owner(forwarder: Any, sent: Any) -> None:
    ready, failed = media_ready("m1", owner="a1"), media_failed("m2", owner="a2")
    await forwarder(ready)
    await forwarder(failed)
    assert [(m.topic, m.key, m.value) for m in sent.messages] == [
        ("media-by-owner", b"a1", ready.to_json()),
        ("media-by-owner", b"a2", failed.to_json()),
    ]


async def test_media_upload_and_progress_not_forwarded(forwarder: Any, sent: Any) -> None:
    await forwarder(event_factory("media_uploaded", user_id="a1"))
    await forwarder(event_factory("media_progress", user_id="a1"))
    assert sent.messages == []


async def test_post_deleted_removes_its_media_once_retracted(posts: Any, sinks: Any) -> None:
    await posts(post_created(media=("m1", "m2")))
    await posts(media_ready("m1"))
    await posts(media_ready("m2"))
    await posts(post_deleted())
    assert sinks.args("remove_media") == [(["m1", "m2"],)]
    assert sinks.named("remove_media") == [{"owner_id": "a1"}]  # what else shows it stays
    writes = sinks.writes()
    assert writes.index("retract_post") < writes.index("remove_media")


async def test_post_deleted_by_another_user_keeps_its_media(posts: Any, sinks: Any) -> None:
    await posts(post_created(media=("m1",)))
    await posts(post_deleted(author="intruder"))
    await posts(post_deleted(post_id="p-unknown"))  # never projected: nothing to remove
    assert sinks.args("remove_media") == []


async def test_post_deleted_stale_write_removes_no_media(posts: Any, sinks: Any) -> None:
    await posts(post_created(media=("m1",)))
    sinks.fresh = False  # a newer state is already projected: this deletion is history
    await posts(post_deleted())
    assert sinks.args("remove_media") == []


async def test_one_batch_projects_every_post_in_one_call_and_in_order(
    harness: Any, sinks: Any
) -> None:
    harness.sinks.followers["a1"] = ["f1"]
    async with track_posts.test_context() as agent:
        events = [
            post_created("p1", media=("m1",)),
            post_created("p2"),
            media_ready("m1"),
            post_deleted("p2"),
        ]
        puts = [await harness.feed(agent, e, key="a1", handled=False) for e in events]
        await until(lambda: all(p.message.acked for p in puts), what="the batch's commit")
    assert len(sinks.named("write_posts")) == len(sinks.args("write_posts")) <= 2
    states = [(w["post_id"], w["record"]["state"]) for w in sinks.named("write_post")]
    assert states == [("p1", PROCESSING), ("p2", READY), ("p1", READY), ("p2", DELETED)]
    assert {p["post_id"] for p in sinks.named("push_post")} == {"p1", "p2"}
    assert [r["post_id"] for r in sinks.named("retract_post")] == ["p2"]
    assert post_index.counts["a1"] == 1
    assert "m1" not in post_index.waiters


async def test_counts_and_waits_recomputed_from_the_records_equal_the_kept_ones(
    posts: Any,
) -> None:
    # What a recovery rebuilds from the two tables must be what the stream kept.
    await posts(post_created("p1", media=("m1", "m2")))
    await posts(post_created("p2", media=("m3",)))
    await posts(post_created("p3"))
    await posts(media_ready("m1"))
    await posts(post_deleted("p3"))
    await posts(post_deleted("p9"))  # a tombstone of a post never seen
    kept = (dict(post_index.counts), {m: list(p) for m, p in post_index.waiters.items()})
    assert kept == ({"a1": 2}, {"m2": ["p1"], "m3": ["p2"]})
    post_index.recompute(list(post_records.items()), dict(media_outcomes.items()))
    assert (post_index.counts, post_index.waiters) == kept
