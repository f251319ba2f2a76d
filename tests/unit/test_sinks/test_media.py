"""The media hash fields each event sets, and what a rebuild writes for a stored row."""

from __future__ import annotations

from types import SimpleNamespace

import orjson

from schemas.events import make_event
from schemas.redis_hashes import MediaHash
from sinks.media import media_hash

VARIANT = {"name": "w320", "object_key": "variants/m1/w320.jpg", "content_type": "image/jpeg"}


def _event(event_type: str, **fields: object):  # type: ignore[no-untyped-def]
    return make_event(event_type, user_id="owner", media_id="m1", **fields)


def media_fields(event: object) -> dict[str, str] | None:
    """The HSET fields an event writes, as a mapping."""
    shape = media_hash(event)  # type: ignore[arg-type]
    if shape is None:
        return None
    pairs = shape.fields()
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def row_fields(row: object) -> dict[str, str]:
    pairs = MediaHash.from_row(row).fields()
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def test_upload_is_pending_with_its_kind() -> None:
    fields = media_fields(
        _event("media_uploaded", object_key="o", content_type="video/mp4", size_bytes=3)
    )
    assert fields == {"state": "pending", "kind": "video", "owner_id": "owner"}


def test_progress_is_partial_and_ready_carries_the_size() -> None:
    partial = media_fields(_event("media_progress", kind="video", variants=[VARIANT]))
    assert partial is not None and partial["state"] == "partial"
    assert orjson.loads(partial["variants"])[0]["object_key"] == VARIANT["object_key"]
    ready = media_fields(
        _event("media_ready", kind="photo", variants=[VARIANT], placeholder="LK", width=4, height=3)
    )
    assert ready is not None
    assert (ready["state"], ready["placeholder"], ready["width"], ready["height"]) == (
        "ready",
        "LK",
        "4",
        "3",
    )


def test_failure_clears_partial_renditions_and_keeps_the_kind() -> None:
    fields = media_fields(_event("media_failed", reason="too_long: 91 s"))
    assert fields == {
        "state": "failed",
        "owner_id": "owner",
        "reason": "too_long: 91 s",
        "variants": "[]",
        "placeholder": "",
    }
    assert "kind" not in fields  # the upload's kind stands


def test_a_rebuilt_row_reads_like_the_live_hash() -> None:
    row = SimpleNamespace(
        state="ready",
        kind="photo",
        owner_id="owner",
        variants='[{"name":"w320"}]',
        placeholder="LK",
        reason=None,
        width=4032,
        height=3024,
    )
    assert row_fields(row) == {
        "state": "ready",
        "kind": "photo",
        "owner_id": "owner",
        "variants": '[{"name":"w320"}]',
        "placeholder": "LK",
        "reason": "",
        "width": "4032",
        "height": "3024",
    }
    pending = SimpleNamespace(
        state="pending", kind="video", owner_id="o", variants=None, placeholder=None,
        reason=None, width=None, height=None,
    )  # fmt: skip
    assert row_fields(pending)["variants"] == "[]" and row_fields(pending)["width"] == ""
