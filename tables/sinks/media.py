"""Project the media topic to the ``media`` table and the Redis media hash.

Each event carries the whole state it announces (pending on upload, partial with the
renditions so far, ready with all of them, failed with the reason), so the latest
event by ``occurred_at`` wins in both stores and a replay is harmless.
"""

from __future__ import annotations

import orjson

from schemas.events import EventBase, MediaFailed, MediaProgress, MediaReady, MediaUploaded
from tables.sinks.connections import Connections
from tables.sinks.scripts import HSET_IF_NEWER

_UPLOADED = (
    "INSERT INTO media (media_id, owner_id, kind, state, object_key, content_type, size_bytes, updated_at) "
    "VALUES (?, ?, ?, 'pending', ?, ?, ?, ?) USING TIMESTAMP ?"
)
_RESULT = (
    "INSERT INTO media (media_id, owner_id, kind, state, variants, placeholder, reason, width, height, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)


def kind_of(content_type: str) -> str:
    return "video" if content_type.startswith("video/") else "photo"


def media_fields(event: EventBase) -> dict[str, str] | None:
    """The Redis hash fields an event sets (pure; also used by rebuild)."""
    if isinstance(event, MediaUploaded):
        return {"state": "pending", "kind": kind_of(event.content_type), "owner_id": event.user_id}
    if isinstance(event, MediaProgress | MediaReady):
        fields = {
            "state": "ready" if isinstance(event, MediaReady) else "partial",
            "kind": event.kind,
            "owner_id": event.user_id,
            "variants": orjson.dumps([v.model_dump() for v in event.variants]).decode(),
            "placeholder": event.placeholder or "",
        }
        if isinstance(event, MediaReady):
            fields["width"] = str(event.width or "")
            fields["height"] = str(event.height or "")
        return fields
    if isinstance(event, MediaFailed):
        return {"state": "failed", "owner_id": event.user_id, "reason": event.reason}
    return None


async def write_media_state(conn: Connections, event: EventBase) -> None:
    fields = media_fields(event)
    if fields is None:
        return
    micros = int(event.occurred_at.timestamp() * 1_000_000)
    if isinstance(event, MediaUploaded):
        await conn.execute(
            _UPLOADED,
            (
                event.media_id,
                event.user_id,
                fields["kind"],
                event.object_key,
                event.content_type,
                event.size_bytes,
                event.occurred_at,
                micros,
            ),
        )
    else:
        await conn.execute(
            _RESULT,
            (
                event.media_id,  # type: ignore[attr-defined]
                event.user_id,
                fields.get("kind"),
                fields["state"],
                fields.get("variants"),
                fields.get("placeholder") or None,
                fields.get("reason"),
                getattr(event, "width", None),
                getattr(event, "height", None),
                event.occurred_at,
                micros,
            ),
        )
    args: list[str] = [str(event.occurred_ms)]
    for key, value in fields.items():
        args += [key, value]
    await conn.redis().eval(HSET_IF_NEWER, 1, conn.keys.media(event.media_id), *args)  # type: ignore[attr-defined]
