"""Media: project every media event; turn uploads into photo variants and Reel ladders.

media (by media_id) ─┬─ project_media ──► Cassandra ``media`` + Redis media hash (batched)
                     ├─ process_photos ─► photo pool ─► object store ─► media_ready | media_failed
                     └─ process_reels ──► reel pool ──► object store ─► media_progress (poster,
                                                        then each rung) … media_ready | media_failed
Results go back to the media topic keyed by media_id, with the owner as user_id, so
``project_media`` shows them and other concerns (posts waiting for their media) see them.

The CPU work runs in child processes (``media.pool``): one per core for photos, a separate
lower-priority one for Reels, so a 90 s transcode never holds up photos, and a hostile file
or a codec crash costs one killed child and a ``media_failed``, never the worker. Outputs go
under deterministic keys, so a redelivered upload rewrites the same objects and re-sends an
equivalent result. Failures of the input become ``media_failed`` with ``"<code>: <message>"``;
failures of our own plumbing (store, Kafka) are retried, then dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import faust

from clients.objectstore import (
    ChecksumMismatch,
    LocalObjectStore,
    ObjectNotFound,
    ObjectStore,
    variant_key,
    video_key,
)
from media.errors import MediaError
from media.photo import process_photo
from media.pool import ProcessPool
from media.probe import upload_kind
from media.renditions import Variant
from media.video import PosterReady, RungReady, hls_content_type, transcode_reel
from schemas.events import (
    EventBase,
    InvalidEvent,
    MediaFailed,
    MediaProgress,
    MediaReady,
    MediaUploaded,
    VariantRef,
    decode_event,
    make_event,
)
from sinks import connections
from sinks.media import write_media_states
from streams.app import app, settings
from streams.batching import Batching, run_batched
from streams.codecs import process_or_dead_letter
from streams.topics import media_topic

logger = logging.getLogger(__name__)

# Bytes that identify every format we route on (magic numbers and the ISO BMFF ftyp box).
SNIFF_BYTES = 64
# On top of the Reel's own budget (enforced inside the job): the backstop that kills it.
REEL_KILL_GRACE_S = 30.0
MASTER_PLAYLIST = "master.m3u8"
_UPLOADED = b'"media_uploaded"'
# Scratch space for Reels (the original as a file, ffmpeg's output before upload).
WORK_ROOT = settings.data_dir / "media-work" / settings.namespace
_CHUNK = 1 << 20

store: ObjectStore = LocalObjectStore(settings.media_dir)
photo_pool = ProcessPool(
    settings.media_photo_workers or os.cpu_count() or 1,
    name="photo",
    memory_limit_mb=settings.media_job_memory_mb or None,
)
# No address-space cap here: it would be inherited by ffmpeg, whose frame size is capped
# by the probe instead.
reel_pool = ProcessPool(settings.media_video_workers, name="reel", nice=settings.media_video_nice)


# --- projection ------------------------------------------------------------------------


# Media events per batch, or fewer after this long (seconds): a batch's rows and hashes
# go out in a few requests, so its size bounds one pipeline, not the rate.
PROJECTION_BATCH_MAX = 2_000
PROJECTION_BATCH_WITHIN_S = 0.05
_PROJECTED = (MediaUploaded, MediaProgress, MediaReady, MediaFailed)


def stage_media(event: EventBase, partition: int, events: list[EventBase]) -> None:
    """Every media event is projected as it is (each one carries its whole state)."""
    if isinstance(event, _PROJECTED):
        events.append(event)


async def write_media(events: list[EventBase]) -> None:
    if events:
        await write_media_states(connections, events)


PROJECTION = Batching(
    apply=stage_media,
    new_effects=list,
    write_effects=write_media,
    changelogs=(),
    max_events=PROJECTION_BATCH_MAX,
    within_s=PROJECTION_BATCH_WITHIN_S,
)


@app.agent(media_topic)
async def project_media(stream: faust.StreamT) -> None:
    """Every media event → the media state served by ``GET /v1/media/{id}``, a batch at
    a time (``streams.batching``: written, then acked)."""
    await run_batched(stream, PROJECTION)


# --- photos ----------------------------------------------------------------------------


async def _process_photo(event: EventBase) -> None:
    if not isinstance(event, MediaUploaded):
        return
    started = time.perf_counter()
    try:
        if await _upload_kind(event.object_key) != "photo":
            return  # process_reels answers for videos
        data = await asyncio.to_thread(store.get, event.object_key)
        result = await photo_pool.run(
            process_photo,
            data,
            timeout_s=settings.media_photo_timeout_s,
            max_pixels=settings.media_max_pixels,
            max_bytes=settings.media_max_upload_bytes,
            declared_type=event.content_type,
        )
        del data
    except MediaError as exc:
        await _fail(event, exc.code, exc.message)
        return
    except (ObjectNotFound, ChecksumMismatch) as exc:
        await _fail(event, *_store_failure(exc))
        return
    refs = await _store_variants(event.media_id, result.variants)
    await _emit(
        "media_ready",
        event,
        kind="photo",
        variants=refs,
        placeholder=result.placeholder,
        width=result.width,
        height=result.height,
    )
    logger.info(
        "photo %s ready: %d variants in %.0f ms",
        event.media_id,
        len(refs),
        (time.perf_counter() - started) * 1000,
    )


@app.agent(media_topic, concurrency=photo_pool.size)
async def process_photos(stream: faust.StreamT) -> None:
    """Photo uploads → oriented, stripped variants and a placeholder (one per pool process)."""
    async for event in _uploads(stream):
        await process_or_dead_letter(event, _process_photo)


# --- Reels -----------------------------------------------------------------------------


async def _process_reel(event: EventBase) -> None:
    if not isinstance(event, MediaUploaded):
        return
    try:
        if await _upload_kind(event.object_key) != "video":
            return  # process_photos answers for everything else
    except (ObjectNotFound, ChecksumMismatch):
        return  # process_photos reports the missing original
    if not event.content_type.startswith("video/"):
        await _fail(event, "type_mismatch", f"declared {event.content_type!r} but it is a video")
        return
    # One directory per attempt: an ffmpeg orphaned by a worker crash may still be writing
    # into the previous attempt's directory, which the stale sweep removes later.
    work = WORK_ROOT / f"{event.media_id}-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(_sweep_stale_work)
    try:
        await _transcode(event, work)
    except MediaError as exc:
        await _fail(event, exc.code, exc.message)
    except (ObjectNotFound, ChecksumMismatch) as exc:
        await _fail(event, *_store_failure(exc))
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


async def _transcode(event: MediaUploaded, work: Path) -> None:
    started = time.perf_counter()
    src = await asyncio.to_thread(_copy_original, event.object_key, work / "source")
    poster: list[dict[str, Any]] = []
    rungs: list[dict[str, Any]] = []
    master: dict[str, Any] | None = None
    placeholder: str | None = None
    steps = reel_pool.stream(
        transcode_reel,
        timeout_s=settings.media_job_timeout_s + REEL_KILL_GRACE_S,
        src=src,
        out_dir=work / "out",
        max_duration_s=settings.media_max_video_s,
        job_timeout_s=settings.media_job_timeout_s,
        max_pixels=settings.media_max_pixels,
    )
    # aclosing: if storing a step fails, the job's process is stopped now, not at GC time.
    async with contextlib.aclosing(steps):
        async for step in steps:
            if isinstance(step, PosterReady):
                poster = await _store_variants(event.media_id, step.photo.variants)
                placeholder = step.photo.placeholder
            elif isinstance(step, RungReady):
                rungs.append(await _store_rung(event.media_id, step))
                master = _ref("hls", video_key(event.media_id, MASTER_PLAYLIST), step)
            # Each step is announced as it lands: poster first, then playable from the low
            # rung while the higher ones are still encoding.
            variants = [*poster, *([master] if master else []), *rungs]
            await _emit(
                "media_progress", event, kind="video", variants=variants, placeholder=placeholder
            )
    if master is None:
        raise MediaError("undecodable", "no rung of the ladder could be made")
    await _emit(
        "media_ready",
        event,
        kind="video",
        variants=[*poster, master, *rungs],
        placeholder=placeholder,
        width=master["width"],
        height=master["height"],
    )
    logger.info(
        "reel %s ready: %d rungs in %.1f s",
        event.media_id,
        len(rungs),
        time.perf_counter() - started,
    )


@app.agent(media_topic)
async def process_reels(stream: faust.StreamT) -> None:
    """Reel uploads → poster, then an HLS ladder low rung first (one job at a time)."""
    async for event in _uploads(stream):
        await process_or_dead_letter(event, _process_reel)


# --- helpers ---------------------------------------------------------------------------


async def _uploads(stream: faust.StreamT) -> AsyncIterator[MediaUploaded]:
    """The uploads on the media topic; ``project_media`` dead-letters what does not decode."""
    async for raw in stream:
        if not raw or _UPLOADED not in raw:
            continue  # results and progress: nothing to process
        try:
            event = decode_event(raw)
        except InvalidEvent:
            continue
        if isinstance(event, MediaUploaded):
            yield event


async def _upload_kind(object_key: str) -> str:
    def head() -> bytes:
        with store.open(object_key) as f:
            return f.read(SNIFF_BYTES)

    return upload_kind(await asyncio.to_thread(head))


def _sweep_stale_work() -> None:
    """Remove scratch directories left by crashed attempts (older than two job budgets)."""
    if not WORK_ROOT.is_dir():
        return
    cutoff = time.time() - 2 * (settings.media_job_timeout_s + REEL_KILL_GRACE_S)
    for entry in WORK_ROOT.iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def _copy_original(object_key: str, target: Path) -> Path:
    """Stream the original to a local file for ffmpeg; the store verifies its checksum."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with store.open(object_key) as src, open(target, "wb") as out:
        while chunk := src.read(_CHUNK):
            out.write(chunk)
    return target


def _store_failure(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, ObjectNotFound):
        return "missing", "the uploaded original is not in the object store"
    return "corrupt_original", f"the stored original fails its checksum: {exc}"


async def _store_variants(media_id: str, variants: Sequence[Variant]) -> list[dict[str, Any]]:
    def put_all() -> list[dict[str, Any]]:
        refs = []
        for v in variants:
            key = variant_key(media_id, v.name, v.ext)
            store.put(key, v.data, content_type=v.content_type)
            refs.append(_ref(v.name, key, v))
        return refs

    return await asyncio.to_thread(put_all)


async def _store_rung(media_id: str, step: RungReady) -> dict[str, Any]:
    """Upload a rung's segments, then its playlist, then the master that lists it."""

    def put_all() -> dict[str, Any]:
        playlist = video_key(media_id, f"{step.rung.name}/{step.playlist.name}")
        for path in sorted(step.files, key=lambda p: p == step.playlist):
            key = video_key(media_id, f"{step.rung.name}/{path.name}")
            store.put_file(key, path, content_type=hls_content_type(path))
        store.put_file(
            video_key(media_id, MASTER_PLAYLIST),
            step.master,
            content_type=hls_content_type(step.master),
        )
        return _ref(f"hls_{step.rung.name}", playlist, step)

    return await asyncio.to_thread(put_all)


def _ref(name: str, key: str, sized: Variant | RungReady) -> dict[str, Any]:
    return VariantRef(
        name=name,
        object_key=key,
        content_type=getattr(sized, "content_type", None) or hls_content_type(Path(key)),
        width=sized.width,
        height=sized.height,
    ).model_dump()


async def _fail(event: MediaUploaded, code: str, message: str) -> None:
    logger.info("media %s failed: %s: %s", event.media_id, code, message)
    await _emit("media_failed", event, reason=f"{code}: {message}")


async def _emit(event_type: str, upload: MediaUploaded, **fields: Any) -> None:
    """Send a result to the media topic and wait for the broker's ack.

    Waiting keeps at-least-once honest: the upload's offset is committed only after this
    returns, so a crash before the ack means the upload is processed again.
    """
    event = make_event(event_type, user_id=upload.user_id, media_id=upload.media_id, **fields)
    delivery = await media_topic.send(key=upload.media_id.encode(), value=event.to_json())
    await delivery
