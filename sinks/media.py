"""Project the media topic to the ``media`` table and the Redis media hash; remove
uploads once what they belong to is gone.

Each event carries the whole state it announces (pending on upload, partial with the
renditions so far, ready with all of them, failed with the reason), so the latest
event by ``occurred_at`` wins in both stores and a replay is harmless; that is also
why a batch of them (``write_media_states``) is written in a few requests, in any order.

``remove_media`` deletes an upload everywhere: its renditions (``variants/<id>/``),
its Reel files (``videos/<id>/``), its original unless another upload holds the same
bytes (originals are content-addressed), the Redis hash and the Cassandra row (with a
write time of now, so an event older than the removal never brings the row back). Given
the owner, an upload still attached to another of their posts or live stories stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from cassandra.query import SimpleStatement

from clients.objectstore import LocalObjectStore, validate_key
from clients.redis import pipelined
from domain.clock import now_ms, to_micros, to_ms
from schemas.events import EventBase, MediaFailed, MediaProgress, MediaReady, MediaUploaded
from schemas.redis_hashes import MediaHash
from sinks.connections import Connections
from sinks.scripts import HSET_IF_NEWER

_UPLOADED = (
    "INSERT INTO media (media_id, owner_id, kind, state, object_key, content_type, size_bytes, updated_at) "
    "VALUES (?, ?, ?, 'pending', ?, ?, ?, ?) USING TIMESTAMP ?"
)
# A failure keeps the kind (set by the upload) and clears any partial renditions.
_FAILED = (
    "INSERT INTO media (media_id, owner_id, state, variants, placeholder, reason, updated_at) "
    "VALUES (?, ?, 'failed', '[]', null, ?, ?) USING TIMESTAMP ?"
)
_RESULT = (
    "INSERT INTO media (media_id, owner_id, kind, state, variants, placeholder, reason, width, height, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)


def kind_of(content_type: str) -> str:
    return "video" if content_type.startswith("video/") else "photo"


def media_hash(event: EventBase) -> MediaHash | None:
    """The Redis hash fields an event sets (pure; also used by rebuild)."""
    if isinstance(event, MediaUploaded):
        return MediaHash(state="pending", kind=kind_of(event.content_type), owner_id=event.user_id)
    if isinstance(event, MediaProgress | MediaReady):
        ready = isinstance(event, MediaReady)
        return MediaHash(
            state="ready" if ready else "partial",
            kind=event.kind,
            owner_id=event.user_id,
            variants=tuple(v.model_dump() for v in event.variants),
            placeholder=event.placeholder or "",
            width=(event.width or 0) if ready else None,  # type: ignore[union-attr]
            height=(event.height or 0) if ready else None,  # type: ignore[union-attr]
        )
    if isinstance(event, MediaFailed):
        # Partial renditions of a failed Reel are no longer offered.
        return MediaHash(
            state="failed", owner_id=event.user_id, reason=event.reason, variants=(), placeholder=""
        )
    return None


def _row(event: EventBase, shape: MediaHash) -> tuple[str, tuple[object, ...]]:
    """The Cassandra write of one event: (statement, parameters)."""
    micros = to_micros(event.occurred_at)
    if isinstance(event, MediaUploaded):
        params: tuple[object, ...] = (
            event.media_id,
            event.user_id,
            shape.kind,
            event.object_key,
            event.content_type,
            event.size_bytes,
            event.occurred_at,
            micros,
        )
        return _UPLOADED, params
    if isinstance(event, MediaFailed):
        return _FAILED, (event.media_id, event.user_id, event.reason, event.occurred_at, micros)
    return _RESULT, (
        event.media_id,  # type: ignore[attr-defined]
        event.user_id,
        shape.kind,
        shape.state,
        orjson.dumps(list(shape.variants or ())).decode(),
        shape.placeholder or None,
        shape.reason,
        getattr(event, "width", None),
        getattr(event, "height", None),
        event.occurred_at,
        micros,
    )


async def write_media_states(conn: Connections, events: Sequence[EventBase]) -> int:
    """A batch of media events: rows in UNLOGGED batches per statement (each row is its
    own write, stamped with its event's time, so their order does not matter), then
    every hash in one pipeline of the if-newer script. Returns the events projected."""
    shaped = [(e, shape) for e in events if (shape := media_hash(e)) is not None]
    if not shaped:
        return 0
    rows: dict[str, list[tuple[object, ...]]] = {}
    for event, shape in shaped:
        cql, params = _row(event, shape)
        rows.setdefault(cql, []).append(params)
    db = await conn.db()
    for cql, params_list in rows.items():
        await db.execute_unlogged(cql, params_list)
    commands = []
    for event, shape in shaped:
        keys = [conn.keys.media(event.media_id)]  # type: ignore[attr-defined]
        args = [str(event.occurred_ms), *shape.fields()]
        commands.append(lambda p, keys=keys, args=args: HSET_IF_NEWER.queue(p, keys, args))
    await pipelined(conn.redis(), commands)
    return len(shaped)


async def write_media_state(conn: Connections, event: EventBase) -> None:
    await write_media_states(conn, [event])


_OBJECT_KEY = "SELECT object_key FROM media WHERE media_id = ?"
_HOLDERS = "SELECT media_id FROM media WHERE object_key = ?"
_DELETE = "DELETE FROM media USING TIMESTAMP ? WHERE media_id = ?"
_OWNER_POSTS = "SELECT media, state FROM posts WHERE author_id = ?"
_OWNER_STORIES = "SELECT media_id FROM stories WHERE author_id = ?"

logger = logging.getLogger(__name__)


def _delete_objects(store: LocalObjectStore, media_id: str, original: str | None) -> None:
    """Every file of one upload: renditions, Reel files and (if given) the original."""
    for prefix in (f"variants/{media_id}", f"videos/{media_id}"):
        store.delete_prefix(prefix)
    if not original:
        return
    try:
        key = validate_key(original)
    except ValueError:
        logger.warning("media %s names no valid original (%r); left alone", media_id, original)
        return
    store.delete(key)


async def _attached(db: Any, owner_id: str) -> set[str]:
    """Uploads the owner's posts (not deleted) and live stories still show."""
    posts = await db.scan(await db.prepare(_OWNER_POSTS), (owner_id,))
    stories = await db.scan(await db.prepare(_OWNER_STORIES), (owner_id,))
    shown = {r.media_id for r in stories}
    for row in posts:
        if row.state != "deleted":
            shown |= {str(m.get("media_id")) for m in orjson.loads(row.media or "[]")}
    return shown


async def remove_media(
    conn: Connections, media_ids: Sequence[str], *, owner_id: str | None = None
) -> int:
    """Delete uploads everywhere (files, hash, row); returns how many were known. With
    ``owner_id``, what another of the owner's posts or stories still shows is kept."""
    ids = list(dict.fromkeys(m for m in media_ids if m))
    if not ids:
        return 0
    db = await conn.db()
    if owner_id is not None:
        shown = await _attached(db, owner_id)
        ids = [m for m in ids if m not in shown]
        if not ids:
            return 0
    store = LocalObjectStore(conn.settings.media_dir)
    known = 0
    for media_id in ids:
        rows = await db.execute(_OBJECT_KEY, (media_id,))
        original = rows[0].object_key if rows and rows[0].object_key else None
        known += bool(rows)
        if original:
            holders = {r.media_id for r in await db.execute(_HOLDERS, (original,))}
            if holders - set(ids):
                original = None  # someone else's upload of the same bytes keeps it
        await asyncio.to_thread(_delete_objects, store, media_id, original)
    micros = now_ms() * 1000
    await db.execute_many(_DELETE, [(micros, media_id) for media_id in ids])
    await conn.redis().delete(*(conn.keys.media(m) for m in ids))
    logger.info("removed %d uploads (%d known)", len(ids), known)
    return known


_SCAN = (
    "SELECT media_id, owner_id, kind, state, variants, placeholder, reason, width, height, "
    "updated_at FROM media"
)
# Rows per Cassandra page, written to Redis in one pipeline.
REBUILD_PAGE = 500


async def rebuild_media(conn: Connections) -> int:
    """Refill every media hash from Cassandra, page by page; returns how many were written."""
    db = await conn.db()
    redis = conn.redis()
    loop = asyncio.get_running_loop()
    statement = SimpleStatement(_SCAN, fetch_size=REBUILD_PAGE)
    result = await loop.run_in_executor(None, lambda: db.session.execute(statement, timeout=60))
    written = 0
    while True:
        rows = list(result.current_rows)
        async with redis.pipeline(transaction=False) as pipe:
            for row in rows:
                updated_ms = to_ms(row.updated_at) if row.updated_at else 0
                HSET_IF_NEWER.queue(
                    pipe,
                    [conn.keys.media(row.media_id)],
                    [str(updated_ms), *MediaHash.from_row(row).fields()],
                )
            await pipe.execute()
        written += len(rows)
        if not result.has_more_pages:
            return written
        await loop.run_in_executor(None, result.fetch_next_page)
