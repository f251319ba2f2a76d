"""project_media, process_photos and process_reels without a broker or child processes
(the pools and the object store are the conftest's fakes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agents.media import process_photos, process_reels, project_media
from media.errors import MediaError
from media.photo import process_photo
from media.video import PosterReady, transcode_reel
from schemas.events import EventBase
from tests.factories import event_factory
from tests.unit.test_agents.conftest import (
    JPEG_HEAD,
    WEBM_HEAD,
    FakePhotoPool,
    FakeReelPool,
    FakeStore,
    photo_result,
    rung_step,
    until,
    variant,
)


def uploaded(media_id: str = "m1", *, content_type: str = "image/jpeg") -> EventBase:
    return event_factory(
        "media_uploaded",
        user_id="owner",
        media_id=media_id,
        object_key=f"originals/{media_id}",
        content_type=content_type,
    )


@pytest.fixture
def store(media_fakes: Any) -> FakeStore:
    return media_fakes.store  # type: ignore[no-any-return]


@pytest.fixture
def photo_pool(media_fakes: Any) -> FakePhotoPool:
    return media_fakes.photo_pool  # type: ignore[no-any-return]


@pytest.fixture
def reel_pool(media_fakes: Any) -> FakeReelPool:
    return media_fakes.reel_pool  # type: ignore[no-any-return]


@pytest.fixture
async def photos(harness: Any, store: FakeStore, photo_pool: FakePhotoPool) -> AsyncIterator[Any]:
    async with process_photos.test_context() as agent:

        async def put(event: EventBase, *, handled: bool = True) -> None:
            await harness.feed(agent, event, key=event.media_id, handled=handled)  # type: ignore[attr-defined]

        yield put


@pytest.fixture
async def reels(harness: Any, store: FakeStore, reel_pool: FakeReelPool) -> AsyncIterator[Any]:
    async with process_reels.test_context() as agent:

        async def put(event: EventBase, *, handled: bool = True) -> None:
            await harness.feed(agent, event, key=event.media_id, handled=handled)  # type: ignore[attr-defined]

        yield put


async def test_media_every_event_projected(harness: Any, sinks: Any) -> None:
    events = [uploaded(), event_factory("media_ready"), event_factory("media_failed")]
    async with project_media.test_context() as agent:
        puts = [await harness.feed(agent, e, key="m1", handled=False) for e in events]
        await until(lambda: all(p.message.acked for p in puts), what="the batch's commit")
    assert [args[0] for args in sinks.args("write_media_state")] == events


async def test_photo_upload_stores_variants_and_emits_ready(
    photos: Any, store: FakeStore, photo_pool: FakePhotoPool, sent: Any
) -> None:
    store.objects["originals/m1"] = JPEG_HEAD
    photo_pool.answer = photo_result(variant("sq150", 150, 150), variant("w320", 320, 213))
    await photos(uploaded())
    (fn, data, options) = photo_pool.jobs[0]
    assert fn is process_photo and data == JPEG_HEAD
    assert options["declared_type"] == "image/jpeg"
    assert store.puts == [
        ("variants/m1/sq150.jpg", "image/jpeg"),
        ("variants/m1/w320.jpg", "image/jpeg"),
    ]
    (message,) = sent.to("media")
    assert message.key == b"m1"
    ready = message.event
    assert (ready.type, ready.user_id) == ("media_ready", "owner")
    assert [v.object_key for v in ready.variants] == [k for k, _ in store.puts]  # type: ignore[attr-defined]
    assert (ready.width, ready.height, ready.placeholder) == (1080, 720, "LKO2?U%2Tw=w")  # type: ignore[attr-defined]


async def test_photo_media_error_emits_failed_with_code(
    photos: Any, store: FakeStore, photo_pool: FakePhotoPool, sent: Any
) -> None:
    store.objects["originals/m1"] = JPEG_HEAD
    photo_pool.answer = MediaError("bomb", "400 MP exceeds the 50 MP limit")
    await photos(uploaded())
    (message,) = sent.to("media")
    assert message.event.type == "media_failed"
    assert message.event.reason == "bomb: 400 MP exceeds the 50 MP limit"  # type: ignore[attr-defined]
    assert store.puts == []


async def test_photo_missing_original_emits_failed_missing(
    photos: Any, photo_pool: FakePhotoPool, sent: Any
) -> None:
    await photos(uploaded())
    (message,) = sent.to("media")
    assert message.event.reason.startswith("missing: ")  # type: ignore[attr-defined]
    assert photo_pool.jobs == []


async def test_photo_agent_video_upload_left_to_reels(
    photos: Any, store: FakeStore, photo_pool: FakePhotoPool, sent: Any
) -> None:
    store.objects["originals/m1"] = WEBM_HEAD
    await photos(uploaded(content_type="video/webm"))
    assert photo_pool.jobs == [] and sent.messages == []


async def test_photo_agent_results_not_processed(
    photos: Any, photo_pool: FakePhotoPool, sent: Any
) -> None:
    await photos(event_factory("media_ready"), handled=False)
    await photos(event_factory("media_failed"), handled=False)
    assert photo_pool.jobs == [] and sent.messages == []


async def test_photo_upload_handled_only_once_ready_delivered(
    harness: Any, store: FakeStore, photo_pool: FakePhotoPool, sent: Any
) -> None:
    store.objects["originals/m1"] = JPEG_HEAD
    sent.hold_deliveries = True
    async with process_photos.test_context() as agent:
        await agent.put(uploaded().to_json(), key=b"m1")
        await until(lambda: sent.deliveries, what="the media_ready send")
        assert harness.handled.count == 0  # its offset may not be committed yet
        sent.deliveries[0].set_result(None)
        await until(lambda: harness.handled.count == 1, what="the upload to finish")


async def test_reel_upload_emits_progress_per_step_then_ready(
    reels: Any, store: FakeStore, reel_pool: FakeReelPool, sent: Any, tmp_path: Path
) -> None:
    store.objects["originals/m1"] = WEBM_HEAD
    out = tmp_path / "out"
    poster = PosterReady(out / "poster.jpg", photo_result(variant("w320", 320, 180)))
    reel_pool.steps = [poster, rung_step(out, "360p", 640, 360), rung_step(out, "720p", 1280, 720)]
    await reels(uploaded(content_type="video/webm"))
    assert reel_pool.jobs[0][0] is transcode_reel
    events = [m.event for m in sent.to("media")]
    assert [e.type for e in events] == ["media_progress"] * 3 + ["media_ready"]
    assert [[v.name for v in e.variants] for e in events] == [  # type: ignore[attr-defined]
        ["w320"],
        ["w320", "hls", "hls_360p"],
        ["w320", "hls", "hls_360p", "hls_720p"],
        ["w320", "hls", "hls_360p", "hls_720p"],
    ]
    assert (events[-1].width, events[-1].height) == (1280, 720)  # type: ignore[attr-defined]
    assert ("videos/m1/master.m3u8", "application/vnd.apple.mpegurl") in store.puts


async def test_reel_declared_non_video_type_fails_type_mismatch(
    reels: Any, store: FakeStore, reel_pool: FakeReelPool, sent: Any
) -> None:
    store.objects["originals/m1"] = WEBM_HEAD
    await reels(uploaded(content_type="image/jpeg"))
    (message,) = sent.to("media")
    assert message.event.reason.startswith("type_mismatch: ")  # type: ignore[attr-defined]
    assert reel_pool.jobs == []


async def test_reel_without_any_rung_fails_undecodable(
    reels: Any, store: FakeStore, reel_pool: FakeReelPool, sent: Any, tmp_path: Path
) -> None:
    store.objects["originals/m1"] = WEBM_HEAD
    reel_pool.steps = [PosterReady(tmp_path / "p.jpg", photo_result(variant("w320", 320, 180)))]
    await reels(uploaded(content_type="video/webm"))
    assert [m.event.type for m in sent.to("media")] == ["media_progress", "media_failed"]
    assert sent.to("media")[-1].event.reason.startswith("undecodable: ")  # type: ignore[attr-defined]


async def test_reel_media_error_mid_ladder_fails_upload(
    reels: Any, store: FakeStore, reel_pool: FakeReelPool, sent: Any, tmp_path: Path
) -> None:
    store.objects["originals/m1"] = WEBM_HEAD
    reel_pool.steps = [rung_step(tmp_path, "360p", 640, 360), MediaError("timeout", "too slow")]
    await reels(uploaded(content_type="video/webm"))
    assert [m.event.type for m in sent.to("media")] == ["media_progress", "media_failed"]
    assert sent.to("media")[-1].event.reason == "timeout: too slow"  # type: ignore[attr-defined]


async def test_reel_agent_photo_upload_left_to_photos(
    reels: Any, store: FakeStore, reel_pool: FakeReelPool, sent: Any
) -> None:
    store.objects["originals/m1"] = JPEG_HEAD
    await reels(uploaded())
    assert reel_pool.jobs == [] and sent.messages == []


async def test_media_events_of_one_batch_projected_once_each_in_order(
    harness: Any, sinks: Any
) -> None:
    events = [uploaded("m1"), uploaded("m2"), event_factory("media_progress", media_id="m1")]
    events.append(event_factory("media_ready", media_id="m1"))
    async with project_media.test_context() as agent:
        puts = [await harness.feed(agent, e, key=e.media_id, handled=False) for e in events]  # type: ignore[attr-defined]
        await until(lambda: all(p.message.acked for p in puts), what="the batch's commit")
    assert [args[0] for args in sinks.args("write_media_state")] == events
    assert len(sinks.args("write_media_states")) == 1  # one batch, one sink call


async def test_media_batch_acked_only_after_its_write(
    harness: Any, sinks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("streams.retry.UNTIL_DONE_BACKOFF_S", 0.01)
    sinks.failures["write_media_states"] = ConnectionError("cassandra down")
    async with project_media.test_context() as agent:
        put = await harness.feed(agent, uploaded(), key="m1", handled=False)
        await until(lambda: sinks.args("write_media_states"), what="the first attempt")
        assert not put.message.acked
        del sinks.failures["write_media_states"]
        await until(lambda: put.message.acked, what="the batch's commit")
