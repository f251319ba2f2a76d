"""The media projection on real Cassandra and Redis: order-safe, replayable, rebuildable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.events import make_event
from sinks.connections import Connections
from sinks.media import rebuild_media, write_media_state, write_media_states
from tests.factories import unique

T0 = datetime(2025, 1, 1, tzinfo=UTC)
VARIANT = {
    "name": "w320",
    "object_key": "variants/m/w320.jpg",
    "content_type": "image/jpeg",
    "width": 320,
    "height": 240,
}


@pytest.fixture
async def conn(namespace: str, settings: Any) -> AsyncIterator[Connections]:
    c = Connections(settings)
    yield c
    await c.close()


def _at(seconds: float, event_type: str, media_id: str, **fields: Any):  # type: ignore[no-untyped-def]
    return make_event(
        event_type,
        user_id="owner",
        media_id=media_id,
        occurred_at=T0 + timedelta(seconds=seconds),
        **fields,
    )


async def test_latest_event_wins_in_both_stores_and_a_rebuild_restores_the_hash(
    conn: Connections,
) -> None:
    ready_id, failed_id = unique("m"), unique("m")
    upload = {"object_key": "originals/x", "content_type": "video/mp4", "size_bytes": 10}
    ready = _at(3, "media_ready", ready_id, kind="video", variants=[VARIANT], placeholder="LK",
                width=1280, height=720)  # fmt: skip
    # Out of order and duplicated, as a replay delivers them.
    for event in (
        _at(0, "media_uploaded", ready_id, **upload),
        ready,
        _at(1, "media_progress", ready_id, kind="video", variants=[VARIANT]),
        _at(0, "media_uploaded", ready_id, **upload),
        ready,
        _at(0, "media_uploaded", failed_id, **upload),
        _at(1, "media_progress", failed_id, kind="video", variants=[VARIANT], placeholder="LK"),
        _at(2, "media_failed", failed_id, reason="timeout: too slow"),
    ):
        await write_media_state(conn, event)

    redis = conn.redis()
    live = {m: await redis.hgetall(conn.keys.media(m)) for m in (ready_id, failed_id)}
    assert live[ready_id]["state"] == "ready" and live[ready_id]["width"] == "1280"
    assert live[failed_id]["state"] == "failed" and live[failed_id]["variants"] == "[]"
    rows = await conn.execute(
        "SELECT kind, state, variants, reason FROM media WHERE media_id = ?", (failed_id,)
    )
    assert (rows[0].kind, rows[0].state, rows[0].variants, rows[0].reason) == (
        "video",
        "failed",
        "[]",
        "timeout: too slow",
    )

    for media_id in live:
        await redis.delete(conn.keys.media(media_id))
    assert await rebuild_media(conn) >= 2
    for media_id, before in live.items():
        after = await redis.hgetall(conn.keys.media(media_id))
        # Same non-empty fields; a rebuild may add empty ones the live sink left unset.
        assert {k: v for k, v in after.items() if v} == {k: v for k, v in before.items() if v}


async def test_one_batch_out_of_order_ends_as_event_by_event(conn: Connections) -> None:
    batched, single = unique("m"), unique("m")
    upload = {"object_key": "originals/y", "content_type": "image/jpeg", "size_bytes": 7}

    def events(media_id: str) -> list[Any]:
        ready = _at(3, "media_ready", media_id, kind="photo", variants=[VARIANT],
                    placeholder="LK", width=320, height=240)  # fmt: skip
        upload_event = _at(0, "media_uploaded", media_id, **upload)
        progress = _at(1, "media_progress", media_id, kind="photo", variants=[])
        return [ready, upload_event, progress, upload_event, ready]

    assert await write_media_states(conn, events(batched)) == 5
    await write_media_states(conn, events(batched))  # the batch replayed
    for event in events(single):
        await write_media_state(conn, event)

    redis = conn.redis()
    got, want = [await redis.hgetall(conn.keys.media(m)) for m in (batched, single)]
    assert got["state"] == "ready" and got["owner_id"] == "owner"
    assert {k: v for k, v in got.items() if k != "updated_at"} == {
        k: v for k, v in want.items() if k != "updated_at"
    }
    cql = "SELECT kind, state, object_key, width, variants FROM media WHERE media_id = ?"
    (row,) = await conn.execute(cql, (batched,))
    (expected,) = await conn.execute(cql, (single,))
    assert tuple(row) == tuple(expected)
    assert (row.state, row.object_key, row.width) == ("ready", "originals/y", 320)


async def test_batch_of_nothing_to_project_writes_nothing(conn: Connections) -> None:
    assert await write_media_states(conn, []) == 0
